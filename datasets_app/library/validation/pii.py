"""PII and secret detection, offline: regular expressions confirmed by phonenumbers, Luhn, SSN rules and ipaddress.

It works on a whole batch of examples at once (one UTF-8 buffer). Python's regex engine is slow on patterns that
start with a look-behind or a character class, so the buffer is never scanned with those directly: numpy finds the
few places worth looking at (clusters of at least seven digits for numbers; words of 12+ bytes for API keys,
`password=...` assignments and full IPv6), and the strict patterns run only there. E-mails are anchored on "@",
private keys on "PRIVATE KEY", which the regex engine finds at memory speed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import numpy as np
import phonenumbers

from datasets_app.library.validation import textsig

EMAIL = "email"
PHONE = "phone"
CARD = "credit_card"
SSN = "ssn"
IP = "ip_address"
SECRET = "secret"  # noqa: S105 - a finding kind, not a credential
KINDS = (EMAIL, PHONE, CARD, SSN, IP, SECRET)
# Secrets (API keys, private keys) are worse than personal data in training text: they cap the score lower.
SECRET_KINDS = frozenset((SECRET,))

_EMAIL_DOMAIN = re.compile(
    rb"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_EMAIL_LOCAL = re.compile(rb"[A-Za-z0-9._%+-]{1,64}$")
_NUMBERS = re.compile(
    rb"(?P<ssn>(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-]))"
    rb"|(?P<ip>(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d]|\.\d))"
    # Cards as they are written: 13–19 digits in one block, groups of four, or Amex's 4-6-5, one separator style.
    rb"|(?P<card>(?<![\d-])(?:\d{13,19}|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{1,7}|\d{4}(?P<asep>[ -])\d{6}(?P=asep)\d{4,5})(?![\d-]))"
    rb"|(?P<phone>(?<![\d+])(?:\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?\d{2,4}){2,4}"
    rb"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?![\d-]))"
)
_IPV6 = re.compile(rb"(?<![0-9A-Fa-f:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![0-9A-Fa-f:])")
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")
# Tokens with a recognisable vendor prefix. They never contain whitespace, so they are searched only around the
# long words of a batch (>= 12 bytes), which are rare in prose.
_TOKENS = re.compile(
    rb"(?<![A-Za-z0-9])(?:AKIA[0-9A-Z]{16}(?![0-9A-Za-z])"
    rb"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    rb"|[rs]k_live_[0-9A-Za-z]{20,}"
    rb"|gh[pousr]_[A-Za-z0-9]{36,}"
    rb"|github_pat_[A-Za-z0-9_]{22,}"
    rb"|xox[abprs]-[A-Za-z0-9-]{10,}"
    rb"|AIza[0-9A-Za-z_-]{35}"
    rb"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
)
_ASSIGNMENT = re.compile(
    rb"(?i)(?<![A-Za-z0-9])(?:api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|password)"
    rb"[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9_\-/+=.]{12,}"
)
LONG_WORD = 12
# How far before a long word an assignment's keyword may start ("client_secret = '" is 17 bytes).
KEYWORD_REACH = 40

# Issuer prefixes of the major card networks: a Luhn-valid 16-digit order id is not a card number.
_CARD_PREFIX = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01])\d{13}|2720\d{12}|3[47]\d{13}"
    r"|6011\d{12}|65\d{14}|64[4-9]\d{13}|35(?:2[89]|[3-8]\d)\d{12}|3(?:0[0-5]|[68]\d)\d{11,16})$"
)

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_DIGIT_OR_DOT = _DIGIT.copy()
_DIGIT_OR_DOT[ord(".")] = True
_COLON = np.zeros(256, dtype=bool)
_COLON[ord(":")] = True


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if index % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_card_number(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_valid(digits)


def is_phone_number(candidate: str) -> bool:
    try:
        number = phonenumbers.parse(candidate, "US")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def _valid_ip(candidate: str) -> bool:
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    # "0.0.0.0" and "::" are placeholders, not addresses that identify anything.
    return not ip.is_unspecified


def _clusters(
    arr: np.ndarray, member: np.ndarray, max_gap: int, minimum: int
) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each group of member bytes lying at most max_gap apart, holding at least `minimum` of them."""
    pos = np.flatnonzero(member[arr])
    if len(pos) < minimum:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    breaks = np.flatnonzero(np.diff(pos) > max_gap)
    first = np.concatenate([[0], breaks + 1])
    last = np.concatenate([breaks, [len(pos) - 1]])
    keep = (last - first + 1) >= minimum
    return pos[first[keep]], pos[last[keep]] + 1


def _search_regions(
    buf: bytes, pattern: re.Pattern, starts: np.ndarray, ends: np.ndarray, before: int, after: int
):
    """Run one regex over just the regions (joined by NUL, so no match spans two); yield (match, position in buf)."""
    if not len(starts):
        return
    lo = np.maximum(starts - before, 0).tolist()
    hi = np.minimum(ends + after, len(buf)).tolist()
    joined = b"\x00".join([buf[a:b] for a, b in zip(lo, hi, strict=True)])
    sizes = np.fromiter((b - a + 1 for a, b in zip(lo, hi, strict=True)), dtype=np.int64, count=len(lo))
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    matches = list(pattern.finditer(joined))
    if not matches:
        return
    region = np.searchsorted(offsets, [m.start() for m in matches], side="right") - 1
    base = np.asarray(lo, dtype=np.int64)[region] - offsets[region]
    for m, shift in zip(matches, base.tolist(), strict=True):
        yield m, m.start() + shift


def scan_buffer(
    buf: bytes, arr: np.ndarray | None = None, word_bounds: tuple[np.ndarray, np.ndarray] | None = None
) -> Iterator[tuple[str, int, str]]:
    """Yield (kind, byte position, matched text) for every confirmed finding in a UTF-8 buffer."""
    if not buf:
        return
    if arr is None:
        arr = np.frombuffer(buf, dtype=np.uint8)
    if b"@" in buf:
        for m in _EMAIL_DOMAIN.finditer(buf):
            local = _EMAIL_LOCAL.search(buf, max(0, m.start() - 64), m.start())
            if local and not local.group().startswith(b"."):
                yield EMAIL, local.start(), buf[local.start() : m.end()].decode("utf-8", "replace")
    # Digits (and dots, for IPv4) at most 3 bytes apart, at least 7 of them: every number shape we look for.
    starts, ends = _clusters(arr, _DIGIT_OR_DOT, 3, 7)
    for m, pos in _search_regions(buf, _NUMBERS, starts, ends, 2, 1):
        value = m.group().decode("ascii")
        if m.group("ssn"):
            yield SSN, pos, value
        elif m.group("ip"):
            if _valid_ip(value):
                yield IP, pos, value
        elif m.group("card"):
            if is_card_number(value):
                yield CARD, pos, value
        elif is_phone_number(value):
            yield PHONE, pos, value
    seen: set[int] = set()
    if b"::" in buf:
        # Compressed IPv6 ("2001:db8::1") can be short; full forms are long words, searched below.
        starts, ends = _clusters(arr, _COLON, 5, 2)
        for m, pos in _search_regions(buf, _IPV6, starts, ends, 5, 5):
            value = m.group().decode("ascii")
            if pos not in seen and value.count(":") >= 2 and _valid_ip(value):
                seen.add(pos)
                yield IP, pos, value
    if b"PRIVATE KEY" in buf:
        for m in _PRIVATE_KEY.finditer(buf):
            yield SECRET, m.start(), m.group().decode("utf-8", "replace")
    if word_bounds is None:
        word_bounds = textsig.word_bounds(arr)
    starts, ends = word_bounds
    long = (ends - starts) >= LONG_WORD
    starts, ends = starts[long], ends[long]
    for pattern, before in ((_TOKENS, 0), (_ASSIGNMENT, KEYWORD_REACH), (_IPV6, 0)):
        for m, pos in _search_regions(buf, pattern, starts, ends, before, 0):
            if pos in seen:
                continue
            value = m.group().decode("utf-8", "replace")
            if pattern is _IPV6:
                if value.count(":") >= 2 and _valid_ip(value):
                    seen.add(pos)
                    yield IP, pos, value
            else:
                seen.add(pos)
                yield SECRET, pos, value


def scan(text: str) -> list[tuple[str, int, str]]:
    """Findings in one text (positions are byte offsets in its UTF-8 encoding)."""
    return list(scan_buffer(text.encode("utf-8", "surrogatepass")))


def mask(value: str) -> str:
    """How a finding is shown in a report: enough to recognise it, not enough to leak it."""
    if len(value) <= 6:
        return "*" * len(value)
    keep = 2 if len(value) < 16 else 4
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]
