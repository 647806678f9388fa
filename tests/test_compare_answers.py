"""bench/compare_answers.py on generated full photos, as a user runs it: the serving image's
entrypoint and `dogbreed serve` both answer every photo with the same top-1, resized and
--original, and the photo-size lines count the photos over 1024 px. No figure is checked."""

from __future__ import annotations

import subprocess
import sys

from ops.deploy.container_image import REPO_ROOT
from tests.dog_artifacts import make_dog_artifact
from tests.factories import BREEDS, class_image


def _photos(root, sizes=(80, 1300)):
    """list.txt + Images/<wnid>-<breed>/ (the full-dev layout): one small and one large photo
    of each of 3 breeds."""
    rels = []
    for index, (wnid, name) in enumerate(BREEDS[:3]):
        (root / "Images" / f"{wnid}-{name}").mkdir(parents=True)
        for n, size in enumerate(sizes):
            rel = f"{wnid}-{name}/{wnid}_{n}.jpg"
            class_image(index, n, size).save(root / "Images" / rel, quality=90)
            rels.append(rel)
    (root / "list.txt").write_text("\n".join(rels) + "\n")
    return root


def test_both_routes_answer_the_same_resized_and_original(tmp_path):
    artifact = make_dog_artifact(tmp_path / "model")
    photos = _photos(tmp_path / "photos")
    cmd = [sys.executable, "bench/compare_answers.py", "--artifact", str(artifact)]
    cmd += ["--photos", str(photos), "--rounds", "2", "--threads", "1"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for how in ("resized ", "original"):
        assert f"{how} container: 6/6 answered" in out
        assert f"{how} serve    : 6/6 answered" in out
        assert (
            f"{how} container vs serve: same top-1 on 6 / 6 answered by both; 0 disagreements"
            in out
        )
    assert "photos: 6, 3 with the longest side over 1024 px (resized)" in out
    assert "photo size container: top-1 resized" in out
    assert "photo size serve    : top-1 resized" in out
