/** An error whose message is for the user as is (no stack), with the exit code to use. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
