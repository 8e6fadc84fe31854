"""Fuzzing the letter reader: mutated letters never crash it and each reads in under 1 s.

The corpus is the CPython e-mail test messages, the field samples and generated
Russian letters; hypothesis mutates them (byte flips, truncation, duplicated
headers, garbage charset names, inserted bytes, broken boundaries). The run is
reproducible: a fixed seed (``SATCHEL_FUZZ_SEED``) and no example database.
``SATCHEL_FUZZ_EXAMPLES`` sets the number of letters: 2,000 under ``CI=true``,
1,000 otherwise, 10,000 with ``SATCHEL_HYPOTHESIS_PROFILE=thorough`` (see tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from mail.classify import classify
from mail.decode import parse_letter
from tests.conftest import env_number, examples
from tests.mail.letters import generate

DATA = Path(__file__).parent.parent / "data" / "mail"
IN_CI = os.environ.get("CI", "").lower() == "true"
EXAMPLES = env_number(
    "SATCHEL_FUZZ_EXAMPLES", str(examples(2000 if IN_CI else 1000, 10_000)), least=1
)
SEED = env_number("SATCHEL_FUZZ_SEED", "20240312")
LIMIT_SECONDS = 1.0
MAX_LETTER = 256 * 1024  # mutations must not grow a letter without bound (50 ** 8 bytes)

CORPUS = [p.read_bytes() for p in sorted((DATA / "cpython").glob("msg_*.txt"))]
CORPUS += [p.read_bytes() for p in sorted((DATA / "samples").glob("*.eml"))]
CORPUS += [g.raw for g in generate(60, seed=7)]

GARBAGE_CHARSETS = [
    b"",
    b"x-unknown",
    b"utf-8\x00",
    b"\xff\xfe",
    b"rot13",
    b"base64",
    b"koi8-r*ru'",
    b"=?utf-8?q?x?=",
    b"utf-16",
    b"a" * 300,
    b"unicode-1-1-utf-7",
    b"iso-2022-jp",
    b"'",
    b'"',
    b"zlib_codec",
]


def _flip(raw: bytes, where: float, value: int) -> bytes:
    if not raw:
        return bytes([value])
    i = int(where * (len(raw) - 1))
    return raw[:i] + bytes([value]) + raw[i + 1 :]


def _truncate(raw: bytes, where: float) -> bytes:
    return raw[: int(where * len(raw))]


def _duplicate_header(raw: bytes, where: float, times: int) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    lines = head.splitlines(keepends=True)
    if not lines:
        return raw
    line = lines[int(where * (len(lines) - 1))][:1000]
    return b"".join(lines) + line * times + sep + body


def _garbage_charset(raw: bytes, where: float, name: bytes) -> bytes:
    spots = [m.start(1) for m in re.finditer(rb"(?i)charset=\"?([^\";\s]*)", raw)]
    spots += [m.start(1) for m in re.finditer(rb"=\?([^?]*)\?", raw)]
    if not spots:
        return raw
    i = spots[int(where * (len(spots) - 1))]
    end = i
    while end < len(raw) and raw[end : end + 1] not in b'";\r\n ?':
        end += 1
    return raw[:i] + name + raw[end:]


def _insert(raw: bytes, where: float, data: bytes) -> bytes:
    i = int(where * len(raw))
    return raw[:i] + data + raw[i:]


_fraction = st.floats(min_value=0, max_value=1)
_mutation = st.one_of(
    st.tuples(st.just("flip"), _fraction, st.integers(0, 255)),
    st.tuples(st.just("truncate"), _fraction),
    st.tuples(st.just("duplicate"), _fraction, st.integers(1, 50)),
    st.tuples(st.just("charset"), _fraction, st.sampled_from(GARBAGE_CHARSETS)),
    st.tuples(
        st.just("insert"),
        _fraction,
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from(
                [
                    b"\r\n\r\n",
                    b"\r\n--",
                    b"=?",
                    b"?=",
                    b"\x00",
                    b"\r\n ",
                    b"=\r\n",
                    b'Content-Type: multipart/mixed; boundary=""\r\n',
                    b"Content-Transfer-Encoding: base64\r\n",
                    b"Content-Type: message/rfc822\r\n",
                ]
            ),
        ),
    ),
)
_APPLY = {
    "flip": _flip,
    "truncate": _truncate,
    "duplicate": _duplicate_header,
    "charset": _garbage_charset,
    "insert": _insert,
}


@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)
@given(base=st.sampled_from(CORPUS), mutations=st.lists(_mutation, min_size=1, max_size=8))
def test_mutated_letters_never_crash(base: bytes, mutations: list[tuple]) -> None:
    raw = base
    for name, *args in mutations:
        raw = _APPLY[name](raw, *args)[:MAX_LETTER]
    # CPU time of this thread, not the wall clock: a quadratic blow-up shows either way, a busy
    # shared machine (other test workers, other jobs) does not.
    started = time.thread_time()
    letter = parse_letter(raw, max_attachment_bytes=1024)
    classify(letter, company_domains=["torgdom.test"])
    elapsed = time.thread_time() - started
    assert elapsed < LIMIT_SECONDS, f"{elapsed:.2f} s for a {len(raw)}-byte letter"
    assert isinstance(letter.subject, str) and "\n" not in letter.subject
    assert all(isinstance(p, str) for p in letter.problems)
    assert letter.dedup_key
    for attachment in letter.attachments:
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert attachment.filename not in ("", ".", "..")
