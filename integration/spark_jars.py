"""The s3a connector's jars: hadoop-aws 3.3.1 and the AWS SDK bundle 1.11.901, taken from the
PyPI source distribution of sagemaker-pyspark 1.4.5 (Maven is not reachable from here) and
kept in a cache folder outside the clone."""

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

JARS = ["hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar"]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sluice" / "spark-jars"


def ensure_jars() -> list[str]:
    target = cache_dir()
    paths = [target / j for j in JARS]
    if all(p.exists() for p in paths):
        return [str(p) for p in paths]
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-build-isolation",
             "-d", tmp, "sagemaker-pyspark==1.4.5"],
            check=True,
        )
        sdist = next(Path(tmp).glob("sagemaker_pyspark-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if name in JARS and "/deps/jars/" in member.name:
                    data = tar.extractfile(member).read()
                    part = target / (name + ".part")
                    part.write_bytes(data)
                    part.rename(target / name)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise RuntimeError(f"jars not found in sagemaker-pyspark: {missing}")
    return [str(p) for p in paths]


if __name__ == "__main__":
    print("\n".join(ensure_jars()))
