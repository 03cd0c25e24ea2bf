"""Keys that need care: spaces, plus signs, percent signs, Unicode, tabs, empty path parts,
and paths deeper than most code expects."""


def awkward_key(n: int, prefix: str) -> str:
    """The ``n``-th of a few awkward shapes, under ``prefix/n/``."""
    shapes = [
        f"{prefix}/{n}/with space and+plus.txt",
        f"{prefix}/{n}/ünïcödé/日本語.bin",
        f"{prefix}/{n}/100%/done?.txt",
        f"{prefix}/{n}//double//slash/",
        f"{prefix}/{n}/tab\there & amp=1",
        f"{prefix}/{n}/" + "deep/" * 150 + "end",
    ]
    return shapes[n % len(shapes)]
