"""A deterministic corpus of hostile and damaged archives: named cases, then
random byte mutations of valid zip and tar.gz files."""

import gzip
import io
import random
import tarfile
import zipfile

VALID_MEMBERS = [
    ("train.py", b"print('hello')\n" * 20),
    ("lib/util.py", b"def f(x):\n    return x * 2\n" * 10),
    ("data/notes.txt", b"some notes\n" * 50),
    (".amlignore", b"*.log\n"),
]


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members, compress=True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def _special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _zip_with(info: zipfile.ZipInfo, data=b"x") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.py", b"x")
        archive.writestr(info, data)
    return buffer.getvalue()


def _zip_symlink() -> bytes:
    info = zipfile.ZipInfo("link")
    info.external_attr = 0o120777 << 16
    return _zip_with(info, b"/etc/passwd")


def _zip_encrypted() -> bytes:
    """zipfile cannot write encrypted members: set the flag bit in both headers."""
    data = bytearray(zip_bytes([("secret.py", b"\0" * 12 + b"ciphertext")], compression=zipfile.ZIP_STORED))
    data[6] |= 0x1
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1
    return bytes(data)


def _zip_method(method: int) -> bytes:
    data = zip_bytes([("a.py", b"x = 1\n" * 100)], compression=zipfile.ZIP_STORED)
    # Patch the method in the local header (offset 8) and the central directory (offset 10).
    data = bytearray(data)
    data[8:10] = method.to_bytes(2, "little")
    central = data.rfind(b"PK\x01\x02")
    data[central + 10 : central + 12] = method.to_bytes(2, "little")
    return bytes(data)


def _tar_header_bomb(size: int) -> bytes:
    """A pax header that declares ``size`` bytes of (zero) data: tarfile reads a
    pax header whole into memory."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    raw = header.tobuf(format=tarfile.USTAR_FORMAT)
    compressor = gzip.GzipFile(fileobj=(out := io.BytesIO()), mode="wb", mtime=0, compresslevel=1)
    compressor.write(raw)
    zeros = b"\0" * (1024 * 1024)
    for _ in range(size // len(zeros)):
        compressor.write(zeros)
    compressor.write(b"\0" * 2048)
    compressor.close()
    return out.getvalue()


def named_cases(max_files: int) -> list[tuple[str, str, bytes]]:
    """(case name, upload file name, content)."""
    valid_zip = zip_bytes(VALID_MEMBERS)
    valid_tar = tar_bytes(VALID_MEMBERS)
    many = [(f"f{i}.py", b"x") for i in range(max_files + 1)]
    cases = [
        ("valid zip", "src.zip", valid_zip),
        ("valid tar.gz", "src.tar.gz", valid_tar),
        ("empty zip file", "src.zip", b""),
        ("empty tar.gz file", "src.tar.gz", b""),
        ("not an archive (zip)", "src.zip", b"hello, world\n" * 10),
        ("not an archive (tar)", "src.tar.gz", b"hello, world\n" * 10),
        ("not an archive (other)", "src.rar", b"Rar!\x1a\x07\x00"),
        ("gzip of not a tar", "src.tar.gz", gzip.compress(b"plain text" * 100)),
        ("zip traversal", "src.zip", zip_bytes([("ok.py", b"x"), ("../evil.py", b"owned")])),
        ("zip deep traversal", "src.zip", zip_bytes([("a/../../../../tmp/evil.py", b"owned")])),
        ("zip absolute", "src.zip", zip_bytes([("/tmp/evil.py", b"owned")])),
        ("zip drive letter", "src.zip", zip_bytes([("C:/evil.py", b"owned")])),
        ("zip backslash traversal", "src.zip", zip_bytes([("..\\evil.py", b"owned")])),
        ("zip symlink", "src.zip", _zip_symlink()),
        ("zip encrypted", "src.zip", _zip_encrypted()),
        ("zip bzip2 method", "src.zip", _zip_method(zipfile.ZIP_BZIP2)),
        ("zip lzma method", "src.zip", _zip_method(zipfile.ZIP_LZMA)),
        ("zip deflate64 method", "src.zip", _zip_method(9)),
        ("zip aes method", "src.zip", _zip_method(99)),
        ("zip bomb", "src.zip", zip_bytes([("zeros.bin", b"\0" * (16 * 1024 * 1024))])),
        ("zip too many files", "src.zip", zip_bytes(many)),
        ("zip file and folder of one name", "src.zip", zip_bytes([("a", b"x"), ("a/b.py", b"y")])),
        ("zip very deep", "src.zip", zip_bytes([("d/" * 300 + "x.py", b"x")])),
        ("zip long name", "src.zip", zip_bytes([("n" * 5000, b"x")])),
        ("zip control character", "src.zip", zip_bytes([("a\nb.py", b"x")])),
        ("zip truncated", "src.zip", valid_zip[: len(valid_zip) // 2]),
        ("zip without its end", "src.zip", valid_zip[:-10]),
        ("tar traversal", "src.tar.gz", tar_bytes([("ok.py", b"x"), ("../evil.py", b"owned")])),
        ("tar absolute", "src.tar.gz", tar_bytes([("/tmp/evil.py", b"owned")])),
        ("tar symlink", "src.tar.gz", tar_bytes([_special("passwd", tarfile.SYMTYPE, "/etc/passwd")])),
        ("tar symlink out", "src.tar.gz", tar_bytes([_special("up", tarfile.SYMTYPE, "../../..")])),
        ("tar hardlink", "src.tar.gz", tar_bytes([_special("passwd", tarfile.LNKTYPE, "/etc/passwd")])),
        ("tar char device", "src.tar.gz", tar_bytes([_special("null", tarfile.CHRTYPE)])),
        ("tar block device", "src.tar.gz", tar_bytes([_special("sda", tarfile.BLKTYPE)])),
        ("tar fifo", "src.tar.gz", tar_bytes([_special("pipe", tarfile.FIFOTYPE)])),
        ("tar bomb", "src.tar.gz", tar_bytes([("zeros.bin", b"\0" * (16 * 1024 * 1024))])),
        ("tar pax header bomb", "src.tar.gz", _tar_header_bomb(192 * 1024 * 1024)),
        ("tar too many files", "src.tar.gz", tar_bytes(many)),
        ("tar non-utf8 name", "src.tar.gz", tar_bytes([("caf\udce9.py", b"x")])),
        ("tar truncated", "src.tar.gz", valid_tar[: len(valid_tar) // 2]),
        ("tar uncompressed truncated", "src.tar", tar_bytes(VALID_MEMBERS, compress=False)[:700]),
        ("tar.bz2 as .tar", "src.tar", __import__("bz2").compress(tar_bytes(VALID_MEMBERS, compress=False))),
    ]
    return cases


MUTATIONS = ("flip", "overwrite", "truncate", "insert", "duplicate", "zero")


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(MUTATIONS)
        at = rng.randrange(max(len(data), 1))
        if rng.random() < 0.5:  # aim at the end: a zip's directory, a gzip's trailer
            at = max(len(data) - rng.randint(1, 160), 0)
        if op == "flip" and data:
            data[at] ^= 1 << rng.randrange(8)
        elif op == "overwrite":
            width = rng.randint(1, 8)
            data[at : at + width] = bytes(rng.randrange(256) for _ in range(width))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == "duplicate":
            width = rng.randint(1, 64)
            data[at:at] = data[at : at + width]
        elif op == "zero":
            width = rng.randint(1, 32)
            data[at : at + width] = bytes(len(data[at : at + width]))
    return bytes(data)


def mutated_cases(count: int, seed: int = 20240609) -> list[tuple[str, str, bytes]]:
    """``count`` mutations: a third of valid zips, a third of tar.gz bytes, a
    third of the plain tar (then compressed, so tarfile sees the damage)."""
    rng = random.Random(seed)
    zip_base = zip_bytes(VALID_MEMBERS)
    stored_base = zip_bytes(VALID_MEMBERS, compression=zipfile.ZIP_STORED)
    tar_base = tar_bytes(VALID_MEMBERS, compress=False)
    cases = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            base = zip_base if i % 2 else stored_base
            cases.append((f"mutated zip {i}", "src.zip", mutate(base, rng)))
        elif kind == 1:
            cases.append((f"mutated tar.gz {i}", "src.tar.gz", mutate(gzip.compress(tar_base, mtime=0), rng)))
        else:
            cases.append((f"mutated tar {i}", "src.tar.gz", gzip.compress(mutate(tar_base, rng), mtime=0)))
    return cases
