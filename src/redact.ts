// Repository URLs may carry credentials (rest:https://user:pass@host/, ?authid=…, ?auth-password=…):
// anything printed, logged or labelled goes through here first.
export const redactRepository = (repository: string): string =>
  repository
    .replace(/\/\/([^/@:\s"']*):([^/@\s"']*)@/g, (_m, user: string) => `//${user}:***@`)
    .replace(/([?&](?:authid|auth-password|auth-username|password|passphrase|secret|token|key)[^=&]*=)[^&]*/gi, '$1***');

/**
 * The same, for free text such as an engine's stderr line: any URL credentials or secret
 * query parameters in it are masked. Applied to every log line and error message.
 */
export const redactText = redactRepository;
