"""Write ``imagenet_classes.tsv`` (the 1,000 ImageNet classes, in the order Keras applications
score them) from the data files of a release of timm, a maintained package that ships them.

    pip download --no-deps timm==1.0.31 -d /tmp/pkgs
    python kconvert/pretrained/make_imagenet_classes.py /tmp/pkgs/timm-1.0.31-py3-none-any.whl

Keras's ``imagenet_class_index.json`` (downloaded at run time by Keras; kconvert never downloads)
lists the WordNet ids in sorted order, each labelled with its first lemma, spaces as underscores:
the same derivation is applied here.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).with_name("imagenet_classes.tsv")


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        synsets = z.read("timm/data/_info/imagenet_synsets.txt").decode().split()
        lemmas = dict(line.split("\t", 1) for line in z.read("timm/data/_info/imagenet_synset_to_lemma.txt")
                      .decode().splitlines() if line.strip())
    assert len(synsets) == 1000 and synsets == sorted(synsets), "expected the 1,000 ILSVRC-2012 synsets, sorted"
    lines = ["# ImageNet (ILSVRC-2012) classes in Keras applications' order: index, WordNet id, label.",
             f"# Made by kconvert/pretrained/make_imagenet_classes.py from {Path(wheel).name} "
             "(timm/data/_info: imagenet_synsets.txt, imagenet_synset_to_lemma.txt; Apache-2.0).",
             "# label: the first lemma, spaces as underscores (as Keras's imagenet_class_index.json)."]
    lines += [f"{i}\t{wnid}\t{lemmas[wnid].split(',')[0].strip().replace(' ', '_')}" for i, wnid in enumerate(synsets)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(synsets)} classes)")


if __name__ == "__main__":
    main(sys.argv[1])
