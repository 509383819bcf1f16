#!/usr/bin/env bash
# Prints, one per line, words of the Flink SQL that `sluice dev up` runs, read from Flink's own
# planner: `reserved` (core/src/sluice/sql/reserved.py) or `functions` (the built-in function
# names, plugins/flink/src/sluice_flink/functions.py). Needs the Flink libraries `sluice dev up`
# cached, and a JDK.
#   bash scripts/flink_sql_words.sh reserved|functions [path/to/pyflink/lib]
set -euo pipefail
what="${1:?say reserved or functions}"
cache="${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
lib="${2:-$(ls -d "$cache"/flink-libs-*/pyflink/lib | tail -1)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# the planner (with its SQL parser) is a jar inside the planner loader's jar
unzip -q -o "$lib"/flink-table-planner-loader-*.jar flink-table-planner.jar -d "$work"
cat > "$work/Words.java" <<'JAVA'
import java.io.StringReader;
import java.util.TreeSet;
import org.apache.calcite.sql.SqlOperator;
import org.apache.calcite.sql.parser.SqlAbstractParserImpl;
import org.apache.flink.sql.parser.impl.FlinkSqlParserImpl;
import org.apache.flink.table.functions.BuiltInFunctionDefinition;
import org.apache.flink.table.functions.BuiltInFunctionDefinitions;
import org.apache.flink.table.planner.functions.sql.FlinkSqlOperatorTable;

public class Words {
  public static void main(String[] args) {
    TreeSet<String> words = new TreeSet<>();
    if (args[0].equals("reserved")) {
      SqlAbstractParserImpl.Metadata metadata =
          new FlinkSqlParserImpl(new StringReader("")).getMetadata();
      for (String token : metadata.getTokens()) {
        if (metadata.isReservedWord(token)) words.add(token);
      }
    } else {
      for (SqlOperator operator : FlinkSqlOperatorTable.instance(false).getOperatorList()) {
        words.add(operator.getName().toUpperCase());
      }
      for (BuiltInFunctionDefinition definition : BuiltInFunctionDefinitions.getDefinitions()) {
        if (!definition.isInternal()) words.add(definition.getName().toUpperCase());
      }
      words.removeIf(word -> !word.matches("[A-Z_][A-Z0-9_]*")); // operators such as +
    }
    words.forEach(System.out::println);
  }
}
JAVA
classpath="$work/flink-table-planner.jar:$lib/*"
javac -d "$work" -cp "$classpath" "$work/Words.java"
java -cp "$classpath:$work" Words "$what"
