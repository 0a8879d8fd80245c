from forensics.textsafe import terminal_safe


def test_escape_sequences_and_controls_become_visible():
    assert terminal_safe("a\x1b[31mred\x1b[0m") == "a\\x1b[31mred\\x1b[0m"
    assert terminal_safe("title\x1b]0;pwned\x07") == "title\\x1b]0;pwned\\x07"
    assert terminal_safe("csi\x9b31m") == "csi\\x9b31m"  # 8-bit CSI
    assert terminal_safe("bidi \u202etxt.exe") == "bidi \\u202etxt.exe"
    assert terminal_safe("two\nlines") == "two\\nlines"
    assert terminal_safe("two\nlines", single_line=False) == "two\nlines"


def test_plain_text_and_unicode_pass_through():
    assert terminal_safe("挖矿行为 Mining Behavior [UFW BLOCK]") == "挖矿行为 Mining Behavior [UFW BLOCK]"
    assert terminal_safe(b"bytes \xff") == "bytes \\xff"
    assert terminal_safe(None) == ""
    assert terminal_safe("x" * 10, max_len=5) == "xxxx…"
