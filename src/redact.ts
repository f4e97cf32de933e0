// Repository URLs may carry credentials (rest:https://user:pass@host/, ?authid=…, ?auth-password=…):
// anything printed, logged or labelled goes through here first.
/** Names of URL query options that hold secrets (passwords, tokens, OAuth ids, signatures). */
export const SECRET_OPTION_NAME =
  /authid|auth-password|auth-username|password|passphrase|passwd|pwd|secret|token|key|sig|credential/i;

export const redactRepository = (repository: string): string =>
  // Neither pattern can match without "//" or a query separator: most text (log lines, a config
  // of 500 local paths read by every `status`) is returned without running either over it.
  !repository.includes('//') && !repository.includes('?') && !repository.includes('&')
    ? repository
    : repository
        // The password may itself hold "@": like Go's URL parser, the last "@" before the host ends it.
        .replace(/\/\/([^/@:\s"']*):\S*@(?=[^@/\s"']*(?:[/"'\s:]|$))/g, (_m, user: string) => `//${user}:***@`)
        .replace(/([?&])([^=&\s"']+)=([^&\s"']*)/g, (whole, separator: string, name: string) =>
          SECRET_OPTION_NAME.test(name) ? `${separator}${name}=***` : whole,
        );

/**
 * The same, for free text such as an engine's stderr line: any URL credentials or secret
 * query parameters in it are masked. Applied to every log line and error message.
 */
export const redactText = redactRepository;
