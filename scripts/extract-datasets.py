#!/usr/bin/env python3
"""Extract the toy datasets shipped with scikit-learn into datasets/*.csv (run once; the
results are committed so pgml needs no network or Python at run time).

    python3 scripts/extract-datasets.py   # downloads the scikit-learn wheel from PyPI
"""
import csv, glob, gzip, io, os, subprocess, tempfile, zipfile

VERSION = "1.9.1"
OUT = os.path.join(os.path.dirname(__file__), "..", "datasets")

_bc = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
       "concave_points", "symmetry", "fractal_dimension"]
BREAST = [f"mean_{n}" for n in _bc] + [f"{n}_error" for n in _bc] + [f"worst_{n}" for n in _bc]
WINE = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
        "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
        "od280_od315_of_diluted_wines", "proline"]


def write(name, header, rows):
    with open(os.path.join(OUT, f"{name}.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    tmp = tempfile.mkdtemp()
    subprocess.check_call(["pip", "download", "--no-deps", "-q", "-d", tmp, f"scikit-learn=={VERSION}"])
    z = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
    read = lambda n: z.read(f"sklearn/datasets/data/{n}")
    text = lambda n: read(n).decode()
    gz = lambda n: gzip.decompress(read(n)).decode()
    skip_first = lambda s: list(csv.reader(io.StringIO(s)))[1:]

    write("iris", ["sepal_length", "sepal_width", "petal_length", "petal_width", "target"],
          skip_first(text("iris.csv")))
    write("breast_cancer", BREAST + ["target"], skip_first(text("breast_cancer.csv")))
    write("wine", WINE + ["target"], skip_first(text("wine_data.csv")))
    x = [l.split() for l in gz("diabetes_data_raw.csv.gz").splitlines() if l.strip()]
    y = [l.strip() for l in gz("diabetes_target.csv.gz").splitlines() if l.strip()]
    write("diabetes", ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"],
          [r + [repr(float(t))] for r, t in zip(x, y)])
    digits = [r.split(",") for r in gz("digits.csv.gz").splitlines() if r.strip()]
    write("digits", [f"pixel_{i // 8}_{i % 8}" for i in range(64)] + ["target"],
          [[str(int(float(v))) for v in r] for r in digits])
    ex = [l.split() for l in text("linnerud_exercise.csv").splitlines()[1:] if l.strip()]
    ph = [l.split() for l in text("linnerud_physiological.csv").splitlines()[1:] if l.strip()]
    write("linnerud", ["chins", "situps", "jumps", "weight", "waist", "pulse"],
          [a + b for a, b in zip(ex, ph)])
    lic = z.read(f"scikit_learn-{VERSION}.dist-info/licenses/COPYING").decode()
    with open(os.path.join(OUT, "LICENSE.scikit-learn"), "w") as f:
        f.write("The CSV files in this folder are scikit-learn's toy datasets, extracted from the\n"
                f"scikit-learn {VERSION} wheel by scripts/extract-datasets.py. Their license:\n\n" + lic)


if __name__ == "__main__":
    main()
