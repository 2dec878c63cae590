"""Built-in texts the quality report measures on when the user gives none: plain English prose written for tunesmith.

`SAMPLE_TEXT` checks tokenization and logits, `HELDOUT_TEXT` perplexity, `SAMPLE_PROMPT` that a chat reply stops.
Pass your own validation text (`--eval-text`) for a perplexity that speaks of your domain.
"""

__all__ = ["HELDOUT_TEXT", "SAMPLE_PROMPT", "SAMPLE_TEXT"]

SAMPLE_TEXT = (
    "The harbour town woke slowly. Fishing boats came in at dawn, their nets heavy with mackerel, and the bakery on "
    "the corner opened its shutters at six. By eight the market square was full: cheese from the hill farms, apples "
    "in wooden crates, and a man selling hand-carved spoons who had been there every Saturday for thirty years. "
    "Numbers, too, matter to a tokenizer: 3.14159, 2026-11-24, 1,000,000 and 0x1F. So do symbols (#, @, %, &) and "
    "words in other languages: café, naïve, Straße, 東京, привет."
)

HELDOUT_TEXT = (
    "A river does not flow in a straight line for long. Water finds the easiest path downhill, and small "
    "differences in the ground send it one way or another. Over years the outside of each bend is worn away while "
    "sand and gravel settle on the inside, so the curves grow wider and slowly travel down the valley. Sometimes a "
    "flood cuts straight across the neck of a loop and leaves the old bend behind as a quiet, curved lake.\n\n"
    "Bread rises because yeast feeds on sugars in the flour and gives off carbon dioxide. Kneading builds a network "
    "of gluten that traps the gas in small pockets, and the oven's heat makes those pockets expand before the crust "
    "sets. A cool, slow rise lets more flavour develop, which is why many bakers leave their dough overnight.\n\n"
    "When you learn to play an instrument, practice works best in short, focused sessions. Play a difficult passage "
    "slowly until it is correct, then a little faster, and stop before you are tired enough to make the same "
    "mistake again and again. Recording yourself helps, because you hear things while listening that you miss "
    "while playing.\n\n"
    "Libraries once kept their catalogues on cards in long wooden drawers. Each book had a card for its author, "
    "another for its title and more for its subjects, so a reader could find it from several directions. Today the "
    "same idea lives on in databases, where one record can be reached through many indexes at once."
)

SAMPLE_PROMPT = "In one short sentence: why is the sky blue?"
