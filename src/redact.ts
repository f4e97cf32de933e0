// Repository URLs may carry credentials (rest:https://user:pass@host/, ?authid=…, ?auth-password=…):
// anything printed, logged or labelled goes through here first.
export const redactRepository = (repository: string): string =>
  repository
    .replace(/\/\/([^/@:]*):([^/@]*)@/, (_m, user: string) => `//${user}:***@`)
    .replace(/([?&](?:authid|auth-password|auth-username|password|passphrase|secret|token|key)[^=&]*=)[^&]*/gi, '$1***');
