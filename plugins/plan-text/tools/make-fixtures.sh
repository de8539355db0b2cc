#!/bin/sh
# Regenerate the fixtures made from the seed documents (run from the
# repository root; needs opencc, pango1.0-tools, fonts-noto-cjk, python3).
# The results are committed, so the build and CI need none of these.
set -eu
S=contrib/city-sim/data/seeds
F=plugins/plan-text/fixtures
# A web page that lost its line breaks: the 2024 work points in one line.
tr -d '\n' <"$S/jnly-2024-work-points.txt" >"$F/jnly-2024-one-line.txt"
# The 2023 notice (both plans) the same way, its Markdown marks gone as a
# web page's text would have none.
sed -e 's/^#* *//; s/\*\*//g; /^---$/d' "$S/jnly-2023-division-plan-and-work-points.md" | tr -d '\n' \
  >"$F/jnly-2023-one-line.txt"
# The 2023 notice in traditional characters (OpenCC, phrase by phrase).
opencc -c s2t -i "$S/jnly-2023-division-plan-and-work-points.md" -o "$F/jnly-2023-traditional.md"
# A short notice in Taiwan's traditional forms (few characters to tell the script by).
opencc -c s2tw -i "$F/linyi-notice.txt" -o "$F/linyi-notice-traditional.txt"
# The 2024 work points up to section 三 as a PDF with a CJK font, lines
# wrapped by width (so tasks and clauses break across lines, as in print).
awk '/^三、/{exit} {print}' "$S/jnly-2024-work-points.txt" >/tmp/pt-part.txt
pango-view --no-display --font="Noto Sans CJK SC 9" --width=560 --wrap=char --margin=30 -q \
  --output="$F/jnly-2024-part.pdf" /tmp/pt-part.txt
rm -f /tmp/pt-part.txt
# A scan: one page with a drawing and no text layer.
python3 - "$F/scanned.pdf" <<'PY'
import sys
objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"]
draw = b"0.5 g 50 50 495 742 re f"
objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
out = bytearray(b"%PDF-1.4\n")
offs = []
for i, o in enumerate(objs, 1):
    offs.append(len(out))
    out += b"%d 0 obj\n%s\nendobj\n" % (i, o)
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offs:
    out += b"%010d 00000 n \n" % o
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(sys.argv[1], "wb").write(out)
PY
