"""Member text made safe to compare (banned words) and to show (names inside the bot's messages)."""

from bot.display.text import fold, shown_name


def test_fold_reads_text_as_clip_does():
    assert fold("ＣＡＴ") == "cat"  # full-width letters
    assert fold("𝐜𝐚𝐭") == "cat"  # styled letters
    assert fold("c\u200ba\u00adt") == "cat"  # invisible characters inside the word
    assert fold("Straße") == "strasse"  # case folded, not only lowered
    assert fold("a cat") == "a cat" and fold("a\u2028cat") != "acat"  # visible separators stay


def test_a_shown_name_cannot_format_mention_or_break_a_line():
    shown = shown_name("**boss**\n@everyone <@123>")
    assert "\n" not in shown
    assert "**" not in shown.replace("\\*", "")
    assert "@everyone" not in shown  # escape_mentions puts a zero-width space after the @
    assert shown.startswith("\\*\\*boss\\*\\* ")
    assert shown_name("  plain   name ") == "plain name"
