"""The split that `charlm seq2seq split` writes: word<TAB>PH PH ... lines."""


def read(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, phonemes = line.rstrip("\n").split("\t")
            pairs.append((word, phonemes.split()))
    return pairs
