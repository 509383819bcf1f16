#!/usr/bin/env bash
# Prints the reserved words of the Flink SQL parser that `sluice dev up` runs (one per line),
# the list in core/src/sluice/sql/reserved.py. Needs the Flink libraries `sluice dev up` cached
# and a JDK. Usage: bash scripts/flink_reserved_words.sh [path/to/pyflink/lib]
set -euo pipefail
lib="${1:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/sluice/flink-libs-*/pyflink/lib | tail -1)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# the planner (and its SQL parser) is a jar inside the planner loader's jar
unzip -q -o "$lib"/flink-table-planner-loader-*.jar flink-table-planner.jar -d "$work"
cat > "$work/Reserved.java" <<'JAVA'
import java.io.StringReader;
import java.util.TreeSet;
import org.apache.calcite.sql.parser.SqlAbstractParserImpl;
import org.apache.flink.sql.parser.impl.FlinkSqlParserImpl;

public class Reserved {
  public static void main(String[] args) {
    SqlAbstractParserImpl.Metadata metadata =
        new FlinkSqlParserImpl(new StringReader("")).getMetadata();
    TreeSet<String> words = new TreeSet<>();
    for (String token : metadata.getTokens()) {
      if (metadata.isReservedWord(token)) words.add(token);
    }
    words.forEach(System.out::println);
  }
}
JAVA
classpath="$work/flink-table-planner.jar:$lib/*"
javac -d "$work" -cp "$classpath" "$work/Reserved.java"
java -cp "$classpath:$work" Reserved
