from bot.display.emoji import AGAIN, ANIMATION, CANCEL, DELETE, plain


def test_plain_drops_only_variation_selectors():
    assert plain("🎞️") == plain("🎞") == "🎞"
    assert plain(AGAIN) == AGAIN and plain(CANCEL) == CANCEL
    assert len({plain(emoji) for emoji in (AGAIN, CANCEL, ANIMATION, DELETE)}) == 4  # still four reactions
