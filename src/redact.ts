// Repository URLs may carry credentials (rest:https://user:pass@host/, ?authid=…, ?auth-password=…):
// anything printed, logged or labelled goes through here first.
export const redactRepository = (repository: string): string =>
  repository
    // The password may itself hold "@": like Go's URL parser, the last "@" before the host ends it.
    .replace(/\/\/([^/@:\s"']*):\S*@(?=[^@/\s"']*(?:[/"'\s:]|$))/g, (_m, user: string) => `//${user}:***@`)
    .replace(/([?&][^=&\s"']*?(?:authid|auth-password|auth-username|password|passphrase|passwd|pwd|secret|token|key|sig|signature|credential)[^=&\s"']*=)[^&\s"']*/gi, '$1***');

/**
 * The same, for free text such as an engine's stderr line: any URL credentials or secret
 * query parameters in it are masked. Applied to every log line and error message.
 */
export const redactText = redactRepository;
