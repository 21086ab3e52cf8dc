"""Bytes to text: UTF-8 (with or without a byte order mark), UTF-16/32 by their marks, else the
legacy encoding a short news file was most likely written in; binary data is refused."""

from __future__ import annotations

import re

from index.errors import LoadError

# UTF-32 first: its little-endian mark begins with UTF-16's.
_UTF16_32_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                  (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# Every byte order mark and what it says the text is (fetched pages are read by it too).
BOMS = ((b"\xef\xbb\xbf", "utf-8"), *_UTF16_32_BOMS)


def decode(data: bytes, where: str) -> tuple[str, list[str]]:
    """Bytes -> text: UTF-8, else the detected legacy encoding, else UTF-8 with replacements."""
    if not data.strip():
        raise LoadError(where, "file is empty" if not data else "file holds only blank space, no text")
    for mark, codec in _UTF16_32_BOMS:
        # UTF-16/32 text (Notepad's "Unicode") is full of NUL bytes: read by its mark, not refused.
        if data.startswith(mark):
            try:
                return data[len(mark):].decode(codec), []
            except UnicodeDecodeError as exc:
                raise LoadError(where, f"starts with a {codec.upper()} byte order mark but is not "
                                       f"{codec.upper()} text (byte {len(mark) + exc.start})") from None
    if b"\x00" in data[:8192]:
        raise LoadError(where, "looks like a binary file (it contains NUL bytes), not text")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8"), []
    except UnicodeDecodeError as exc:
        first_bad = bom + exc.start
    text = data[bom:].decode("utf-8", errors="replace")
    runs = len(re.findall("\ufffd+", text))
    valid_non_ascii = sum(ord(ch) > 127 for ch in text) - text.count("\ufffd")
    # UTF-8 with a few damaged bytes still has valid multi-byte characters; a legacy-encoded
    # file almost never does, so only then is another encoding worth guessing.
    if valid_non_ascii < runs:
        legacy = _decode_legacy(data)
        if legacy is not None:
            return legacy[0], [f"{where}: not valid UTF-8; decoded as {legacy[1]}"]
    if text.count("\ufffd") > 0.1 * len(text):
        raise LoadError(where, "looks like a binary file (it is not text in UTF-8 or a known encoding)")
    return text, [
        f"{where}: {runs} invalid UTF-8 byte run(s) (first at byte {first_bad}) replaced with U+FFFD"
    ]


def _decode_legacy(data: bytes) -> tuple[str, str] | None:
    """The encoding charset-normalizer finds, preferring cp1252 (Western news) among near ties."""
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data) if m.chaos < 0.2]
    # DOS and Mac code pages are a last resort: on short texts they tie with the Windows ones
    # ("Café" read as cp775 "Cafķ"), and news files are almost never in them.
    matches = [m for m in matches if not _DOS_OR_MAC.match(m.encoding)] or matches
    if not matches:
        return None
    # A reading that puts symbols inside words ("W³adze", "¿ycie" for Polish cp1250 read as
    # cp1252) is the wrong one, however coherent its letters look to the detector.
    strays = {m.encoding: _strays_in_words(str(m)) for m in matches}
    fewest = min(strays.values())
    matches = [m for m in matches if strays[m.encoding] == fewest]
    best = min(matches, key=lambda m: (m.chaos, -m.coherence))
    # Near-equal guesses often list cp1250 or cp1257 first, which turn "naïve" into "naďve" and
    # "Grève" into "Grčve": cp1252 wins a near tie.
    for m in matches:
        if (
            "cp1252" in (m.encoding, *m.could_be_from_charset)
            and m.chaos <= best.chaos + _NEAR
            and m.coherence >= best.coherence - _NEAR
        ):
            return data.decode("cp1252"), "cp1252"
    return str(best), best.encoding


_NEAR = 0.02
_DOS_OR_MAC = re.compile(r"cp(?:4|7|8)\d\d$|mac_")


def _strays_in_words(text: str) -> int:
    """Non-ASCII characters that are no letters (symbols, superscript digits) between letters."""
    return sum(1 for i in range(1, len(text) - 1)
               if ord(text[i]) > 127 and not text[i].isalpha() and text[i - 1].isalpha()
               and text[i + 1].isalpha())
