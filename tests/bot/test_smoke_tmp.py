from tests.bot.conftest import option


async def test_dream_end_to_end(bot, emulator):
    interaction = await emulator.slash("dream", [option("prompt", "a magic fairy house"), option("seed", 7, 4)])
    text = await emulator.wait_for(lambda: emulator.reply_text(interaction), 10)
    print(text)
    done = await emulator.wait_for(lambda: [m for m in emulator.channel_messages() if m["embeds"] and "Done" in m["embeds"][0]["title"]], 120)
    print(done)
    print([ (c.method, c.path) for c in emulator.calls])
