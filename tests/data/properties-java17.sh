#!/usr/bin/env bash
# Regenerates tests/data/properties-java17.tsv: 2,000 random byte strings
# (with \u escapes, surrogates, ISO-8859-1 and C1 bytes, CR/LF, comments,
# continuations) and what Java's own Properties.load(InputStream) reads from
# each. src/fogbow.rs replays the file in its unit tests, so the reference
# is Java itself while CI needs no JDK. Needs javac/java (openjdk-17-jdk).
#   bash tests/data/properties-java17.sh
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/in.txt" <<'PY'
import random, sys
random.seed(6)
alpha = b"ab=: \t\x0c\\\n\r#!u09fdAFD\xe9\x85"
lines = [""]
for n in range(1999):
    k = random.randint(0, 40)
    s = bytearray()
    while len(s) < k:
        if random.random() < 0.06:
            s += b"\\u" + bytes(random.choice(b"0123456789abcdefABCDEFdD8") for _ in range(random.choice([4, 4, 4, 4, 3])))
        else:
            s.append(random.choice(alpha))
    lines.append(bytes(s).hex())
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
javac -d "$work" PropertiesCorpus.java
java -cp "$work" PropertiesCorpus "$work/in.txt" >properties-java17.tsv
