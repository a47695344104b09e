"""Every allow-list of the checkpoint readers tested at its edge: for each allowed name, its nearest
neighbours (the same module with another name, the same name in another module, a prefix, a dotted path
through it) are refused, and the call the crafted file asks for never runs.

Each crafted call would write ``marker`` if it ran (``torch.save``, ``numpy.save``, ``open``, ``exec``...);
for the names that do not exist here the refusal itself is what matters: it must come from the allow-list,
naming the global, before anything is imported or called.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch
from dall_e.decoder import Decoder

from engine.networks import dvae, persistence
from engine.networks.checkpoints import UnsafeCheckpoint, load_checkpoint, state_dict_of
from tests.support.checkpoints import Call, Named, crafted_checkpoint, crafted_pickle

# What a hostile file would do with each name, given the marker's path (None: just the name).
WRITES = {
    ("torch", "save"): lambda m: ([1], m),
    ("numpy", "save"): lambda m: (m, [1]),
    ("numpy", "memmap"): lambda m: (m, "uint8", "w+", 0, (1,)),
    ("builtins", "open"): lambda m: (m, "w"),
    ("builtins", "exec"): lambda m: (f"open({m!r}, 'w')",),
    ("builtins", "eval"): lambda m: (f"open({m!r}, 'w')",),
}

# The StyleGAN persistence reader: each allowed (module, name) and its nearest neighbours.
PERSISTENCE_NEIGHBOURS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): [
        ("torch_utils.persistence", "persistent_class"),
        ("torch_utils", "_reconstruct_persistent_obj"),
        ("torch_utils.persistence", "_reconstruct_persistent"),
        ("torch_utils.persistence", "_reconstruct_persistent_obj.__globals__"),
    ],
    ("torch._utils", "_rebuild_tensor_v2"): [
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_import_dotted_name"),
        ("torch", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v2.__globals__"),
    ],
    ("torch._utils", "_rebuild_parameter"): [
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch.nn.parameter", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_param"),
    ],
    ("torch.storage", "_load_from_bytes"): [
        ("torch.storage", "_load_from_bytes.__globals__"),
        ("torch.serialization", "_load_from_bytes"),
        ("torch.serialization", "load"),
        ("torch", "load"),
    ],
    ("collections", "OrderedDict"): [
        ("collections", "defaultdict"),
        ("collections", "OrderedDict.fromkeys"),
        ("typing", "OrderedDict"),
        ("collections", "Ordered"),
    ],
    ("dnnlib.util", "EasyDict"): [
        ("dnnlib.util", "call_func_by_name"),
        ("dnnlib.util", "construct_class_by_name"),
        ("dnnlib", "EasyDict"),
        ("dnnlib.util", "EasyDict.__init__"),
    ],
    ("numpy.core.multiarray", "scalar"): [
        ("numpy.core.multiarray", "fromfile"),
        ("numpy", "scalar"),
        ("numpy.core.multiarray", "scalar.__self__"),
        ("numpy.core", "multiarray"),
    ],
    ("numpy.core.multiarray", "_reconstruct"): [
        ("numpy.core.multiarray", "_reconstructor"),
        ("numpy.core.multiarray", "_reconstruct.__globals__"),
        ("numpy.ma.core", "_reconstruct"),
    ],
    ("numpy", "ndarray"): [("numpy", "save"), ("numpy", "memmap"), ("numpy", "ndarray.tofile"), ("numpy.ma", "ndarray")],
    ("numpy", "dtype"): [("numpy", "dtypes"), ("numpy", "dtype.__new__"), ("numpy.core", "dtype")],
    ("builtins", "set"): [
        ("builtins", "setattr"),
        ("builtins", "open"),
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("builtins", "set.__init__"),
    ],
    ("torch", "float32"): [  # any torch dtype is allowed: nothing else of torch
        ("torch", "save"),
        ("torch", "dtype"),
        ("torch", "finfo"),
        ("torch", "float32.__class__"),
        ("torch.nn", "float32"),
        ("torch", "float32x"),
    ],
}


def refused(module: str, name: str) -> str:
    """The refusal torch's weights-only unpickler words (it names builtins without their module)."""
    return re.escape(f"(Unsupported global: GLOBAL {name if module == 'builtins' else f'{module}.{name}'})") + "$"


def crafted_call(module: str, name: str, marker: Path) -> Call:
    return Call(module, name, WRITES.get((module, name), lambda m: (m,))(str(marker)))


def test_every_allowed_persistence_name_has_neighbours_listed():
    assert set(PERSISTENCE_NEIGHBOURS) - {("torch", "float32")} >= {
        pair for pair in persistence.ALLOWED if not pair[0].startswith("numpy._core")
    }


@pytest.mark.parametrize(
    ("module", "name"),
    [pair for neighbours in PERSISTENCE_NEIGHBOURS.values() for pair in neighbours],
    ids=lambda v: v,
)
def test_the_stylegan_reader_refuses_each_neighbour_of_an_allowed_name(tmp_path, module, name):
    marker = tmp_path / "ran"
    path = crafted_pickle(tmp_path / "network.pkl", {"G_ema": crafted_call(module, name, marker)})
    with pytest.raises(UnsafeCheckpoint, match=re.escape(f"Unsupported global: {module}.{name})")):
        persistence.read_pickle(path)
    assert not marker.exists(), "the file's call ran"


def test_each_allowed_name_itself_is_resolved_and_nothing_else_is_done_with_it(tmp_path):
    """The other side of the edge: each allowed global, and any torch dtype, reads as the object it names."""
    names = [*persistence.ALLOWED, ("torch", "float16"), ("torch", "bfloat16")]
    path = crafted_pickle(tmp_path / "names.pkl", [Named(module, name) for module, name in names])
    with open(path, "rb") as file:
        resolved = persistence._Reader(file).load()
    assert resolved[-2:] == [torch.float16, torch.bfloat16]
    assert resolved[:-2] == list(persistence.ALLOWED.values())


# Lightning's classes (placeholders) and the dVAE's classes, each with its neighbours, as torch's unpickler sees them.
CHECKPOINT_NEIGHBOURS = [
    ("pytorch_lightning.callbacks.model_checkpoint", "ModelSummary"),
    ("pytorch_lightning.callbacks", "ModelCheckpoint"),
    ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint.__init__"),
    ("lightning.pytorch.callbacks.model_checkpoint", "EarlyStopping"),
    ("pytorch_lightning.callbacks.early_stopping", "EarlyStopping.__setstate__"),
    ("pytorch_lightning.utilities.parsing", "save_hyperparameters"),
    ("pytorch_lightning.utilities.parsing", "AttributeDict.__setattr__"),
    ("pytorch_lightning.utilities", "AttributeDict"),
    ("torch", "save"),
    ("builtins", "exec"),
]
DVAE_NEIGHBOURS = [
    ("dall_e.decoder", "DecoderBlock.__init__"),
    ("dall_e.encoder", "Decoder"),
    ("dall_e", "load_model"),
    ("dall_e.utils", "map_pixels"),
    ("dall_e.utils", "Conv2d.forward"),
    ("torch.nn.modules.container", "ModuleList"),
    ("torch.nn.modules.activation", "ReLU6"),
    ("torch.nn.modules.upsampling", "UpsamplingNearest2d"),
    ("torch.nn.modules.container", "Sequential.__setstate__"),
    ("torch.nn.modules.module", "Module.register_forward_hook"),
]


@pytest.mark.parametrize(("module", "name"), CHECKPOINT_NEIGHBOURS, ids=lambda v: v)
def test_the_checkpoint_reader_refuses_each_neighbour_of_a_lightning_class(tmp_path, module, name):
    marker = tmp_path / "ran"
    path = crafted_checkpoint(
        tmp_path / "last.ckpt", {"state_dict": {"w": torch.ones(1)}, "x": crafted_call(module, name, marker)}
    )
    with pytest.raises(UnsafeCheckpoint, match=refused(module, name)):
        load_checkpoint(path)
    assert not marker.exists(), "the file's call ran"


@pytest.mark.parametrize(("module", "name"), DVAE_NEIGHBOURS + CHECKPOINT_NEIGHBOURS[-2:], ids=lambda v: v)
def test_the_dvae_reader_refuses_each_neighbour_of_its_classes(tmp_path, module, name):
    marker = tmp_path / "ran"
    path = crafted_checkpoint(tmp_path / "decoder.pkl", [crafted_call(module, name, marker)])
    with pytest.raises(UnsafeCheckpoint, match=refused(module, name)):
        dvae.read_module(path, Decoder)
    assert not marker.exists(), "the file's call ran"


def test_a_record_gives_its_parameters_and_persistent_buffers_detached_and_nothing_else():
    state = {
        "_parameters": {"w": torch.ones(2, requires_grad=True), "unset": None},
        "_buffers": {"kept": torch.zeros(1), "skipped": torch.ones(1)},
        "_non_persistent_buffers_set": {"skipped", "w"},  # names buffers only: a parameter "w" stays
        "_modules": {"child": persistence.Persistent("Linear", {"_parameters": {"b": torch.ones(1)}}), "gone": None},
    }
    tensors = dict(persistence.Persistent("Net", state).tensors())
    assert list(tensors) == ["w", "kept", "child.b"]
    assert not tensors["w"].requires_grad, "read as data, detached from any graph"


@pytest.mark.parametrize(
    ("meta", "kind"),
    [({"type": "function", "class_name": "f"}, "'function'"), ({"type": "class", "class_name": 3}, "'class'")],
)
def test_a_persistent_object_that_is_no_named_class_is_refused(meta, kind):
    with pytest.raises(UnsafeCheckpoint, match=f"^a persistent object of an unknown kind \\({kind}\\)$"):
        persistence._persistent(meta)


def test_a_pickle_without_g_ema_is_named_for_what_it_is(tmp_path):
    path = crafted_pickle(tmp_path / "network.pkl", {"G": None})
    with pytest.raises(UnsafeCheckpoint, match=r"^it is not a StyleGAN network pickle \(no G_ema\)$"):
        persistence.read_pickle(path)


def test_the_weights_of_a_checkpoint_or_of_a_bare_state_dict_are_its_tensors_only():
    weights = {"w": torch.ones(1), "step": 3}
    assert state_dict_of({"state_dict": weights, "epoch": 1}) == {"w": weights["w"]}
    assert state_dict_of(weights) == {"w": weights["w"]}


def test_a_stylegan_pickle_with_a_persistent_id_is_refused(tmp_path):
    """torch.save files name their storages by persistent id; NVIDIA's pickles never do, so one is refused."""

    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-1" if obj == "a storage" else None

    with open(tmp_path / "network.pkl", "wb") as file:
        WithIds(file, protocol=2).dump({"G_ema": "a storage"})
    with pytest.raises(UnsafeCheckpoint, match=r"^it holds a persistent id \('storage-1'\) that a StyleGAN pickle does not use$"):
        persistence.read_pickle(tmp_path / "network.pkl")


def test_a_checkpoint_refused_for_an_opcode_says_which_and_never_advises_loading_it_unsafely(tmp_path):
    """Not a global this time: the extension-registry opcode (EXT1), which the weights-only unpickler does not run."""
    import zipfile

    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(1)}, plain)
    crafted = tmp_path / "last.ckpt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(crafted, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            out.writestr(info, b"\x80\x02\x82\x01." if info.filename.endswith("data.pkl") else data)
    with pytest.raises(UnsafeCheckpoint) as refused:
        load_checkpoint(crafted)
    assert str(refused.value) == "it names code that is not allowed to load (Unsupported operand 130)"
