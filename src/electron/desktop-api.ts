export interface DesktopApi { info(): Promise<string> }
export const X = 1;
