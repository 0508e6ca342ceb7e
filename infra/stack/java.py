"""Finding a Java 17+ to run Kafka and DynamoDB Local with."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from infra.stack.errors import StackError


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not candidate or not os.path.exists(candidate):
        raise StackError(
            "Java 17 or newer is required to run Apache Kafka and DynamoDB Local, and none was found "
            "(set JAVA_HOME or put `java` on PATH; on Debian: apt-get install openjdk-17-jre-headless)"
        )
    version = subprocess.run([candidate, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', version)
    if match and int(match.group(1)) < 17:
        raise StackError(f"{candidate} is Java {match.group(1)}; Apache Kafka 4 needs Java 17 or newer")
    return candidate
