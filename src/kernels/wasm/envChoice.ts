/**
 * The kernels' start-up settings from environment variables (SIZESEG_FMA, SIZESEG_CONV_ALGORITHM): one of a
 * few named choices, 'auto' when unset or empty, and a clear error naming the variable and the choices
 * otherwise. No Node API here (the page runs these kernels too): the variable is read where a `process` exists.
 */

/** The choice `value` of `variable` names ('auto' when unset or empty); an error that lists the choices otherwise. */
export function parseChoice<T extends string>(variable: string, value: string | undefined, choices: readonly T[]): T | 'auto' {
  if (value === undefined || value.trim() === '') return 'auto';
  const v = value.trim();
  if ((choices as readonly string[]).includes(v)) return v as T;
  throw new Error(`${variable}=${value}: expected one of ${choices.join(', ')} (or leave it unset for auto)`);
}

/** The choice the environment variable `variable` names, if the engine has environment variables at all. */
export function choiceFromEnv<T extends string>(variable: string, choices: readonly T[]): T | 'auto' {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return parseChoice(variable, env?.[variable], choices);
}
