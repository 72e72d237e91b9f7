"""The texts synthetic lines are drawn with: built-in English and French sentences that
cover the charset, letter forms (salutations, dates, addresses, closings), text files and
ground-truth transcriptions, and digit strings. Seeded by the caller's generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .charset import normalize_text

SENTENCES = """\
The garden was quiet after the rain, and the path shone under the lamps.
Please send the two parcels to the station before Tuesday morning.
I have read your letter of the 14th with much pleasure and some surprise.
We arrived at Dover at half past nine; the sea was calm and grey.
Meeting moved to Room 12, 3:30 pm. Bring the budget notes (draft 2).
She wrote down 47 names, then crossed out the last three.
Le train de Lyon arrive à 18 h 45, quai numéro 3.
Nous avons visité la cathédrale, puis le marché couvert près du fleuve.
Merci pour votre réponse ; je vous écris de nouveau la semaine prochaine.
Il faisait très froid ce matin-là, et la neige couvrait déjà les toits.
Rendez-vous le 2 mai à l'école, avec les cahiers et les crayons.
Ce livre raconte l'histoire d'une famille qui quitte la ville en 1923.
Où est passé le chat ? Il dort sans doute sous l'escalier.
Total: 1 250 francs, payé le 7 juin, reçu n° 58.
Dear Sir, I enclose the seeds you asked for, with my best wishes.
The committee agreed to meet again in October, weather permitting.
It was with deep sorrow that we heard the news of her death last week.
Her kindness to the students will be remembered by all who knew her.
We shall always think of her with gratitude and the warmest affection.
Will you kindly convey to the family my heartfelt sympathy in their loss?
The University has lost a true friend, and the State a noble woman.
I write to thank you for your very kind letter, which reached me yesterday.
My wife joins me in sending our love to you and to your dear mother.
He could not come to the meeting, being detained by the business of the bank.
The trustees met on Monday at four o'clock in the office of the President.
We hope to see you in the spring, when the roads are open again.
Enclosed please find a cheque for $25.00, the amount of my subscription.
Your faithful friend, who thinks of you often, and prays for your welfare.
There is no one who can fill the place she held in our hearts.
Quick brown foxes jump over the lazy dog; vexing zebras quiz jolly wizards.
JUST KEEP EXAMINING EVERY LOW BID QUOTED FOR ZINC ETCHINGS.
Portez ce vieux whisky au juge blond qui fume : Zoé, Ève et Œdipe.
L'été dernier, nous étions à Nîmes, à Besançon et à Épinal avec François.
Je vous prie d'agréer, Monsieur, l'expression de mes sentiments distingués.
Ma chère maman, je t'écris ces quelques mots pour te dire que je vais bien.
Nous partirons demain à l'aube ; ne t'inquiète pas, je t'écrirai bientôt.
« Voilà le cœur de l'affaire », dit-il, « et il n'y a rien à ajouter. »
Reçu de M. Dupuis la somme de 300 francs (trois cents francs) le 12/03/1915.
"""

# Letter forms: salutations, dates, places, closings (English and French), filled in at random.
_FIRST = (
    "Mary Jane John William Henry Elizabeth Margaret Charles George Anna Emily Thomas Edward "
    "Louise Alice Frederick Arthur Helen Grace Walter Marie Pierre Jeanne Louis Henri "
    "Germaine Marcel Suzanne"
).split()
_LAST = (
    "Stanford Lathrop Smith Brown Jordan Wilson Taylor Clark Lewis Walker Hall Allen Young "
    "King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter "
    "Phillips Evans Turner Dupont Martin Bernard Durand Lefèvre Moreau Girard"
).split()
_PLACES = (
    "San Francisco, Cal.|Palo Alto, California|New York|Boston, Mass.|Washington, D.C.|"
    "Chicago, Ill.|Philadelphia|Berkeley|Sacramento|London|Oxford|Honolulu|Paris|Lyon|"
    "Bordeaux|Marseille|Lille|Verdun"
).split("|")
_MONTHS_EN = (
    "January February March April May June July August September October November "
    "December Jan. Feb. Mar. Apr. Aug. Sept. Oct. Nov. Dec."
).split()
_MONTHS_FR = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()
)
_STREETS = (
    "Street|Avenue|St.|Ave.|Place|Road|rue de la Paix|boulevard Voltaire|rue des Écoles"
).split("|")
_SALUTE_EN = (
    "Dear {f},|My dear {f},|Dear Mrs. {l},|My dear Mrs. {l}:|Dear Mr. {l}:|"
    "Dear Sir,|Dear Madam,|Gentlemen:|My dear Dr. {l},|Dear Miss {l},|"
    "My dear Friend,"
).split("|")
_SALUTE_FR = "Cher {f},|Chère {f},|Monsieur,|Madame,|Mon cher ami,|Chère Madame {l},".split("|")
_CLOSE_EN = (
    "Yours sincerely,|Very sincerely yours,|Yours very truly,|Faithfully yours,|"
    "With kind regards,|Ever affectionately yours,|Believe me, yours most cordially,|"
    "Your loving friend,|Respectfully yours,|Cordially yours,"
).split("|")
_CLOSE_FR = (
    "Bien à vous,|Affectueusement,|Je t'embrasse bien fort,|Votre dévoué,|"
    "Recevez mes salutations respectueuses."
).split("|")


def letter_form(rng: np.random.Generator) -> str:
    """One line of a letter's frame: a salutation, a date, a place and date, an address or a
    closing, in English (three times in four) or French, with names and numbers drawn at random."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    f, l = pick(_FIRST), pick(_LAST)
    day, year = int(rng.integers(1, 32)), int(rng.integers(1850, 2030))
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    if rng.random() < 0.75:
        forms = [
            pick(_SALUTE_EN).format(f=f, l=l),
            pick(_CLOSE_EN),
            f"{pick(_MONTHS_EN)} {day}{pick(['', suffix, ','])} {year}",
            f"{pick(_PLACES)}, {pick(_MONTHS_EN)} {day}, {year}.",
            f"{int(rng.integers(1, 3000))} {pick(_LAST)} {pick(_STREETS[:5])}",
            f"{day}/{int(rng.integers(1, 13))}/{year % 100:02d}",
            f"{f} {l}",
            f"{f[0]}. {l}",
            f"Mrs. {f} {l}",
        ]
    else:
        forms = [
            pick(_SALUTE_FR).format(f=f, l=l),
            pick(_CLOSE_FR),
            f"le {day} {pick(_MONTHS_FR)} {year}",
            f"{pick(_PLACES)}, le {day} {pick(_MONTHS_FR)}",
            f"{int(rng.integers(1, 200))}, {pick(_STREETS[5:])}",
            f"{f} {l}",
        ]
    return normalize_text(pick(forms))


def text_pool(path=None) -> list[str]:
    """Sentences to draw from: the lines of UTF-8 text files and the transcriptions of
    ground-truth folders (one path or a list), else the built-in ones; a clear error if there
    are none."""
    if path:
        from .lm import read_texts

        return read_texts([path] if isinstance(path, (str, Path)) else list(path))
    return [normalize_text(l) for l in SENTENCES.splitlines() if l.strip()]


def sample_text(
    pool: list[str],
    rng: np.random.Generator,
    digits: float = 0.0,
    words: tuple[int, int] = (3, 9),
    letters: float = 0.0,
) -> str:
    """A span of consecutive words from a random sentence, a letter form
    (:func:`letter_form`, with probability ``letters``) or a digit string (``digits``)."""
    r = rng.random()
    if r < digits:
        n = int(rng.integers(4, 12))
        s = "".join(rng.choice(list("0123456789 .,/-:"), size=n)).strip()
        return normalize_text(s) or "0"
    if r < digits + letters:
        return letter_form(rng)
    ws = pool[int(rng.integers(len(pool)))].split()
    n = int(rng.integers(words[0], words[1] + 1))
    start = int(rng.integers(0, max(1, len(ws) - n + 1)))
    return " ".join(ws[start : start + n])
