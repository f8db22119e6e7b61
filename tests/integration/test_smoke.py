from conftest import run_cli


def test_embed_tiny_model_through_subprocess(tiny_st_dir, tmp_path):
    out = tmp_path / "v.jsonl"
    run_cli("embed", "-t", "hello", "-t", "world", "--model", str(tiny_st_dir), "-o", str(out), check=True)
    assert len(out.read_text().splitlines()) == 2
