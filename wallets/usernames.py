# ruff: noqa: RUF001, RUF002 (the table is made of look-alike characters)
"""Usernames that look alike are one username: their skeletons (Unicode TR39) are equal.

A payee is named by its username, so "alice" and "аlice" (Cyrillic а), "bill" and "bi1l",
or "modern" and "rnodern" must not be two accounts: a payer who types or pastes one would
pay the other. `username_skeleton` follows TR39's skeleton (compatibility decomposition,
then each character replaced by its prototype) with a table covering the Latin look-alikes
of Cyrillic, Greek, IPA and digits, and two deliberate tightenings for names read in any
case: the text is case-folded first, and accents and invisible format characters are
dropped. The skeleton is stored in User.username_skeleton under a unique index, so two
accounts can never share one, whichever path created them.
"""

import unicodedata

# After NFKD and case folding: character -> its Latin prototype. Lower-case i and l both
# go to "l": folded, "I" (capital i) is "i", and I, l, 1 and | are the classic confusion.
PROTOTYPES = {
    # digits and ASCII
    "0": "o",
    "1": "l",
    "i": "l",
    "|": "l",
    # Latin letters outside ASCII (IPA, dotless i, ...)
    "ı": "l",
    "ɩ": "l",
    "ʟ": "l",
    "ȷ": "j",
    "ɑ": "a",
    "ɡ": "g",
    "ʏ": "y",
    "ɴ": "n",
    "ʀ": "r",
    "ᴄ": "c",
    "ᴏ": "o",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "һ": "h",
    "н": "h",
    "і": "l",
    "ӏ": "l",
    "ј": "j",
    "к": "k",
    "м": "m",
    "о": "o",
    "р": "p",
    "ԛ": "q",
    "с": "c",
    "ѕ": "s",
    "т": "t",
    "у": "y",
    "ү": "y",
    "х": "x",
    "ԁ": "d",
    "ԝ": "w",
    "ь": "b",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "l",
    "κ": "k",
    "μ": "u",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "σ": "o",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
}

# Sequences that read as one letter (TR39 maps m to "rn", d to "cl", w to "vv"); applied
# after PROTOTYPES, so "rn" written with Cyrillic letters is caught too.
SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def username_skeleton(username: str) -> str:
    """The form two usernames share when a reader could take one for the other."""
    text = unicodedata.normalize("NFKD", username).casefold()
    text = "".join(
        PROTOTYPES.get(char, char)
        for char in text
        if not unicodedata.combining(char) and unicodedata.category(char) != "Cf"
    )
    for sequence, prototype in SEQUENCES:
        text = text.replace(sequence, prototype)
    return text
