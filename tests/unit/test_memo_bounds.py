"""The fast-path memos stay small whatever tenants send: big values are not remembered and the
total is bounded by bytes as well as entries."""

from __future__ import annotations

from orchestrator.api.jsonio import Memo


def test_a_value_over_the_item_bound_is_not_remembered() -> None:
    memo: Memo[tuple[str, bytes], bool] = Memo(max_item_bytes=1000)
    memo.put(("node", b"x" * 2000), True)
    assert ("node", b"x" * 2000) not in memo
    memo.put(("node", b"small"), True)
    assert memo.get(("node", b"small")) is True


def test_the_memo_is_bounded_by_bytes_and_by_entries() -> None:
    memo: Memo[bytes, bytes] = Memo(size=100, max_bytes=10_000, max_item_bytes=5_000)
    for i in range(50):
        memo.put(str(i).encode() + b"k" * 998, b"")  # 1,000 bytes each
    kept = [i for i in range(50) if str(i).encode() + b"k" * 998 in memo]
    assert kept == list(range(40, 50))  # the newest 10,000 bytes
    small: Memo[int, str] = Memo(size=3)
    for i in range(5):
        small.put(i, "v")
    assert [i for i in range(5) if i in small] == [2, 3, 4]
    small.put(3, "w")  # a repeated key replaces its entry, it does not grow the memo
    assert small.get(3) == "w" and 2 in small
