import pytest

from contract.colours import is_colour, rgb


@pytest.mark.parametrize(("text", "value"), [("white", (255, 255, 255)), ("Grey", (128, 128, 128)), ("#0a80Ff", (10, 128, 255))])
def test_colours_as_members_type_them(text, value):
    assert is_colour(text) and rgb(text) == value


@pytest.mark.parametrize("text", ["#fff", "#12345g", "0a80ff", "#0a80ff ", "mauve", ""])
def test_anything_else_is_not_a_colour(text):
    assert not is_colour(text)
    with pytest.raises(ValueError, match="not a colour"):
        rgb(text)
