/**
 * Structured logging in Cloud Logging's JSON format: one JSON object per line on
 * stdout, with `severity` and `message`, which the Cloud Functions runtime turns into
 * a structured log entry. Labels go under `logging.googleapis.com/labels`.
 */

/** Cloud Logging severities used here. */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

/** The logging port every handler and the model layer receive. */
export interface Logger {
  log(severity: Severity, message: string, fields?: Record<string, unknown>): void;
}

/** Writes Cloud Logging structured lines to a sink (stdout by default). */
export function jsonLogger(
  write: (line: string) => void = line => process.stdout.write(line + '\n'),
  labels: Record<string, string> = {}
): Logger {
  return {
    log(severity, message, fields = {}) {
      const entry: Record<string, unknown> = {severity, message, ...fields};
      const extraLabels = fields['logging.googleapis.com/labels'] as Record<string, string> | undefined;
      if (Object.keys(labels).length > 0 || extraLabels) {
        entry['logging.googleapis.com/labels'] = {...labels, ...extraLabels};
      }
      write(JSON.stringify(entry));
    },
  };
}

/** A logger that keeps entries in memory: for tests and for quiet command-line use. */
export function memoryLogger(): Logger & {
  entries: Array<{severity: Severity; message: string} & Record<string, unknown>>;
} {
  const entries: Array<{severity: Severity; message: string} & Record<string, unknown>> = [];
  return {
    entries,
    log(severity, message, fields = {}) {
      entries.push({severity, message, ...fields});
    },
  };
}
