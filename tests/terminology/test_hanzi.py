"""Traditional → simplified folding (ehcmpi.terminology.hanzi)."""

from __future__ import annotations

import pytest

from ehcmpi.terminology.hanzi import is_traditional, to_simplified


@pytest.mark.parametrize(
    ("text", "simplified"),
    [
        ("張偉", "张伟"),
        ("單田芳", "单田芳"),
        ("歐陽娜娜", "欧阳娜娜"),
        ("司馬遷", "司马迁"),
        ("尉遲恭", "尉迟恭"),
        ("陳志強", "陈志强"),
        ("劉德華", "刘德华"),
        ("鍾", "钟"),
        ("鐘", "钟"),
        ("臺灣", "台湾"),
        ("啟明", "启明"),  # Taiwan variant 啟 → 啓 → 启
        ("裡", "里"),
        ("北京市朝陽區建國路８８號", "北京市朝阳区建国路88号"),  # NFKC too
        ("张伟", "张伟"),
        ("Zhang Wei", "Zhang Wei"),
        # also standard simplified characters: kept, their "simplified" form is another name
        ("乾隆", "乾隆"),
        ("於", "於"),
    ],
)
def test_to_simplified(text: str, simplified: str) -> None:
    assert to_simplified(text) == simplified


def test_is_traditional() -> None:
    assert is_traditional("張")
    assert not is_traditional("张")
    assert not is_traditional("乾")
    assert not is_traditional("張偉")
