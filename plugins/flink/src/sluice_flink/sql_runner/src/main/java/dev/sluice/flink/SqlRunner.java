package dev.sluice.flink;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Runs the statements of one sluice Flink SQL job, submitted with {@code POST /jars/{id}/run}.
 *
 * <p>Each program argument is one statement, base64-encoded (UTF-8), so that quotes, line
 * breaks and semicolons reach the planner untouched. {@code SET 'key' = 'value'} statements go
 * into this job's table configuration (a TableEnvironment has no SET of its own); every other
 * statement is executed in order. The {@code INSERT INTO} submits the job and returns at once:
 * in a session cluster's web submission the job runs detached, so main() ends as soon as the
 * job is submitted and the REST call answers with the job's id.
 *
 * <p>Statements are never printed: they may hold credentials of the Kafka cluster.
 */
public final class SqlRunner {

  private static final Pattern SET =
      Pattern.compile(
          "SET\\s+'((?:[^']|'')*)'\\s*=\\s*'((?:[^']|'')*)'\\s*;?", Pattern.CASE_INSENSITIVE);

  private SqlRunner() {}

  public static void main(String[] args) {
    List<String> statements = decode(args);
    TableEnvironment tableEnv = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    for (int i = 0; i < statements.size(); i++) {
      run(tableEnv, i + 1, statements.get(i));
    }
  }

  static List<String> decode(String[] args) {
    if (args.length == 0) {
      throw new IllegalArgumentException(
          "sluice SQL runner: no statements (each program argument is one base64 statement)");
    }
    List<String> statements = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      try {
        byte[] bytes = Base64.getDecoder().decode(args[i].trim());
        statements.add(new String(bytes, StandardCharsets.UTF_8).strip());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "sluice SQL runner: program argument " + (i + 1) + " is not base64", e);
      }
    }
    return statements;
  }

  private static void run(TableEnvironment tableEnv, int number, String statement) {
    Matcher set = SET.matcher(statement);
    if (set.matches()) {
      tableEnv.getConfig().set(unquote(set.group(1)), unquote(set.group(2)));
      return;
    }
    if (statement.toUpperCase(Locale.ROOT).startsWith("SET")) {
      throw new IllegalArgumentException(
          "sluice SQL runner: statement " + number + " is not of the form SET 'key' = 'value'");
    }
    TableResult result;
    try {
      result = tableEnv.executeSql(statement);
    } catch (RuntimeException e) {
      // the first line names the statement (CREATE TEMPORARY TABLE `x` (, INSERT INTO `y`)
      // without its options, which may hold a password
      String head = statement.lines().findFirst().orElse("");
      throw new IllegalStateException(
          "sluice SQL runner: statement " + number + " (" + head + " ...) failed", e);
    }
    result
        .getJobClient()
        .ifPresent(client -> System.out.println("sluice: submitted job " + client.getJobID()));
  }

  private static String unquote(String literal) {
    return literal.replace("''", "'");
  }
}
