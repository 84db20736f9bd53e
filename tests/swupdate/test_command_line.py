"""Panels take their TargetToken on a command line (`swupdate -u "... -k TOKEN"`).

SWUpdate 2022.12's suricatta reads that argument string twice, the first time with
getopt("deS:"): a token starting with "-" is read as options there, and one holding a "d"
switches polling off without a word (a panel that never asks for its update). So the
tokens we issue never start with "-". No swupdate needed to check that.
"""

from core.tokens import token_generate


def test_issued_tokens_never_start_with_a_dash():
    # Unfiltered, about one token in 64 would: 2000 draws find one all but surely.
    tokens = [token_generate() for _ in range(2000)]
    assert not [token for token in tokens if token.startswith("-")]
    assert len(set(tokens)) == len(tokens) and {len(token) for token in tokens} == {43}
