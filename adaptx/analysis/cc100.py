"""How much pretraining text XLM-R saw per language: the CC-100 table (a cited data table).

Source: Conneau et al. 2020, "Unsupervised Cross-lingual Representation Learning at Scale"
(ACL 2020, arXiv:1911.02116), Appendix A, Table 6: per language, tokens (millions) and size (GiB)
of CC-100. Transcribed from the CSV in github.com/mayhewsw/multilingual-data-stats
(cc-100/cc-100.csv, "numbers come from Appendix A (Table 6) of the XLM-R paper"); spot-checked
against the paper's English (55,608 M tokens, 300.8 GiB), Swahili (275 M, 1.6 GiB), Chinese
Simplified (46.9 GiB), Japanese (69.3 GiB) and Thai (71.7 GiB) rows.

The data-size covariate is the size in GiB. The "tokens" column counts whitespace-separated words,
so it ranks languages written without spaces as tiny (zh 259 M tokens in 46.9 GiB, ja 530 M in
69.3 GiB, th 1,834 M in 71.7 GiB, against sw 275 M in 1.6 GiB): controlling for it would partly
control for the script, and so for distance from English itself. It is kept for reference only.

Kept by ISO 639-1 code. Rows left out on purpose (never guessed): the romanized variants (no
code of their own), Burmese (the transcription lists two Burmese rows, Unicode and Zawgyi,
without saying which is which), Chinese Traditional (`zh` is Simplified, as in XNLI/PAWS-X/
MLQA/XQuAD). Languages XLM-R was not pretrained on (Yoruba, among XTREME's) are absent: missing.
"""

from __future__ import annotations

import math

SOURCE = "CC-100 size in GiB, XLM-R paper (Conneau et al. 2020, arXiv:1911.02116) Table 6"
COVARIATE = "log10 of the CC-100 size in GiB"

# code: (language, tokens in millions, size in GiB)
CC100 = {
    "en": ("English", 55608, 300.8), "vi": ("Vietnamese", 24757, 137.3), "ru": ("Russian", 23408, 278.0),
    "id": ("Indonesian", 22704, 148.3), "fa": ("Persian", 13259, 111.6), "sv": ("Swedish", 12950, 85.0),
    "ro": ("Romanian", 10354, 61.4), "de": ("German", 10297, 66.6), "fr": ("French", 9780, 56.8),
    "es": ("Spanish", 9374, 53.3), "no": ("Norwegian", 8494, 49.0), "pt": ("Portuguese", 8405, 49.1),
    "da": ("Danish", 7823, 45.6), "hu": ("Hungarian", 7807, 58.4), "uk": ("Ukrainian", 6960, 84.6),
    "fi": ("Finnish", 6730, 54.3), "pl": ("Polish", 6490, 44.6), "ko": ("Korean", 5644, 54.2),
    "bg": ("Bulgarian", 5487, 57.5), "nl": ("Dutch", 5025, 29.3), "it": ("Italian", 4983, 30.2),
    "el": ("Greek", 4285, 46.9), "sk": ("Slovak", 3525, 23.2), "he": ("Hebrew", 3399, 31.6),
    "hr": ("Croatian", 3297, 20.5), "ar": ("Arabic", 2869, 28.0), "tr": ("Turkish", 2736, 20.9),
    "cs": ("Czech", 2498, 16.3), "lt": ("Lithuanian", 1835, 13.7), "th": ("Thai", 1834, 71.7),
    "ca": ("Catalan", 1752, 10.1), "hi": ("Hindi", 1715, 20.2), "sl": ("Slovenian", 1669, 10.3),
    "ms": ("Malay", 1318, 8.5), "lv": ("Latvian", 1198, 8.8), "sq": ("Albanian", 918, 5.4),
    "et": ("Estonian", 843, 6.1), "sr": ("Serbian", 843, 9.1), "az": ("Azerbaijani", 783, 6.5),
    "ur": ("Urdu", 730, 5.7), "ta": ("Tamil", 595, 12.2), "tl": ("Filipino", 556, 3.1),
    "ja": ("Japanese", 530, 69.3), "bn": ("Bengali", 525, 8.4), "is": ("Icelandic", 505, 3.2),
    "gl": ("Galician", 495, 2.9), "kk": ("Kazakh", 476, 6.4), "ka": ("Georgian", 469, 9.1),
    "mk": ("Macedonian", 449, 4.8), "hy": ("Armenian", 421, 5.5), "la": ("Latin", 390, 2.5),
    "be": ("Belarusian", 362, 4.3), "ml": ("Malayalam", 313, 7.6), "sw": ("Swahili", 275, 1.6),
    "eu": ("Basque", 270, 2.0), "zh": ("Chinese (Simplified)", 259, 46.9), "te": ("Telugu", 249, 4.7),
    "mn": ("Mongolian", 248, 3.0), "si": ("Sinhala", 243, 3.6), "af": ("Afrikaans", 242, 1.3),
    "ne": ("Nepali", 237, 3.8), "mr": ("Marathi", 175, 2.8), "kn": ("Kannada", 169, 3.3),
    "eo": ("Esperanto", 157, 0.9), "cy": ("Welsh", 141, 0.8), "gu": ("Gujarati", 140, 1.9),
    "ps": ("Pashto", 96, 0.7), "ky": ("Kyrgyz", 94, 1.2), "uz": ("Uzbek", 91, 0.7),
    "ga": ("Irish", 86, 0.5), "am": ("Amharic", 68, 0.8), "pa": ("Punjabi", 68, 0.8),
    "ku": ("Kurdish (Kurmanji)", 66, 0.4), "so": ("Somali", 62, 0.4), "ha": ("Hausa", 56, 0.3),
    "sd": ("Sindhi", 50, 0.4), "km": ("Khmer", 36, 1.5), "or": ("Oriya", 36, 0.6),
    "yi": ("Yiddish", 34, 0.3), "fy": ("Western Frisian", 29, 0.2), "ug": ("Uyghur", 27, 0.4),
    "mg": ("Malagasy", 25, 0.2), "jv": ("Javanese", 24, 0.2), "gd": ("Scottish Gaelic", 21, 0.1),
    "lo": ("Lao", 17, 0.6), "sa": ("Sanskrit", 17, 0.3), "br": ("Breton", 16, 0.1),
    "bs": ("Bosnian", 14, 0.1), "xh": ("Xhosa", 13, 0.1), "su": ("Sundanese", 10, 0.1),
    "om": ("Oromo", 8, 0.1), "as": ("Assamese", 5, 0.1),
}


def gib(lang: str) -> float | None:
    """CC-100 size (GiB) of a language, or None where the table has no (unambiguous) row."""
    row = CC100.get(lang)
    return float(row[2]) if row else None


def log_gib(lang: str) -> float | None:
    """log10 of the CC-100 size in GiB: the data-size covariate of the typology analysis."""
    size = gib(lang)
    return math.log10(size) if size else None


def tokens_millions(lang: str) -> float | None:
    """CC-100 "tokens" (millions of whitespace-separated words), for reference: never the covariate."""
    row = CC100.get(lang)
    return float(row[1]) if row else None
