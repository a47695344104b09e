"""``dreambot nats-config``: the server's configuration and a credential per user, private, never overwritten unasked."""

from __future__ import annotations

import stat
import subprocess

import pytest

from bot.cli import main
from tests.support.nats import server_binary


def written(folder) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def test_it_writes_a_configuration_the_server_accepts_and_a_private_credential_per_user(tmp_path, capsys):
    out = tmp_path / "nats"
    assert main(["nats-config", "--worker", "gpu1", "--worker", "gpu2", "--out", str(out), "--store", str(tmp_path)]) == 0
    files = written(out)
    assert sorted(files) == ["bot.secret", "nats-server.conf", "worker-gpu1.secret", "worker-gpu2.secret"]
    assert all(stat.S_IMODE((out / name).stat().st_mode) == 0o600 for name in files)
    users = [files[name].split(":")[0] for name in ("bot.secret", "worker-gpu1.secret", "worker-gpu2.secret")]
    assert users == ["bot", "worker-gpu1", "worker-gpu2"]
    passwords = {files[name].strip().split(":")[1] for name in files if name.endswith(".secret")}
    assert len(passwords) == 3 and all(len(p) >= 40 and p in files["nats-server.conf"] for p in passwords)
    checked = subprocess.run([server_binary(), "-t", "-c", str(out / "nats-server.conf")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "[queue] credentials = " in capsys.readouterr().out


def test_existing_files_are_replaced_only_when_asked(tmp_path, caplog):
    out = tmp_path / "nats"
    assert main(["nats-config", "--worker", "gpu1", "--out", str(out)]) == 0
    before = written(out)
    assert main(["nats-config", "--worker", "gpu1", "--out", str(out)]) == 2
    assert "holds nats-server.conf, bot.secret, worker-gpu1.secret already; --force replaces them" in caplog.text
    assert written(out) == before
    assert main(["nats-config", "--worker", "gpu1", "--out", str(out), "--force"]) == 0
    after = written(out)
    assert after["bot.secret"] != before["bot.secret"] and after["worker-gpu1.secret"] != before["worker-gpu1.secret"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--worker", "gpu1", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--worker", "gpu.1", "--worker", "gpu_1"], "worker names must differ in letters, digits, - and _"),
    ],
)
def test_bad_arguments_are_said_and_nothing_is_written(tmp_path, caplog, arguments, message):
    assert main(["nats-config", *arguments, "--out", str(tmp_path / "nats")]) == 2
    assert message in caplog.text and not (tmp_path / "nats").exists()
