#!/usr/bin/python3
# Writes the CBOR twins of the RFC 8428 JSON vectors: tests/cases/<case>/pack.cbor.
# Labels become the integer keys of RFC 8428 §6; vd (base64url text in JSON) becomes a byte string.
# Run once after a vector changes (needs python3-cbor2, i.e. Debian's /usr/bin/python3):
#   /usr/bin/python3 adapters/senml/tests/make_cbor.py /work/shared/vectors/senml
import base64, json, os, sys
import cbor2

LABELS = {"bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6,
          "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8}

def twin(pack):
    out = []
    for rec in pack:
        m = {}
        for k, v in rec.items():
            if k == "vd":
                v = base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
            m[LABELS.get(k, k)] = v
        out.append(m)
    return out

def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/vectors/senml"
    cases = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    for name in sorted(os.listdir(src)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(src, name)) as f:
            pack = json.load(f)
        d = os.path.join(cases, name[:-len(".json")])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "pack.cbor"), "wb") as f:
            f.write(cbor2.dumps(twin(pack)))

if __name__ == "__main__":
    main()
