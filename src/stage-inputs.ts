/**
 * The types of a stage's inputs: what `run(...)` and `runNamed({...})` accept, read from the
 * wrapped function's type. Types only (nothing here runs).
 *
 * TypeScript's function types carry the parameters' types and order, never their names, so
 * `run`'s positional arguments are checked from the function alone, while `runNamed`'s keys
 * can be checked only where the stage declares its parameters' names (the `inputs` option,
 * which the constructor checks against the function's source).
 */

/** `true` when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;

/** `true` when the names are not known as literals (no `inputs` option). */
type Unnamed<N extends readonly string[]> = string extends N[number] ? true : false;

/** The parameters of a function type (those of `any` for anything else). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Params<F> = F extends (...args: infer P) => unknown ? P : any[];

/** The parameters in order, each with its type and whether it may be left out. */
type Slots<P extends readonly unknown[]> = P extends readonly []
  ? []
  : P extends readonly [infer H, ...infer T]
    ? [{ type: H; optional: false }, ...Slots<T>]
    : number extends P["length"]
      ? [] // only a rest parameter is left: it has no name
      : P extends readonly [(infer H)?, ...infer T]
        ? [{ type: H; optional: true }, ...Slots<T>]
        : [];

/**
 * The names of the static arguments a stage is built with (the `args` option), as far as the
 * types know them: `never` for none, `string` when they are not literals.
 */
type Fixed<S> = IsAny<S> extends true ? string : keyof S & string;

/**
 * `F`'s only parameter when it is an object that has every one of `Names` (the function
 * destructures it: memori binds names to its keys), else `never`.
 */
type ObjectParam<F, Names extends string> =
  Params<F> extends readonly [infer P]
    ? P extends readonly unknown[] | ((...args: never[]) => unknown)
      ? never
      : P extends object
        ? [Names] extends [keyof P]
          ? P
          : never
        : never
    : never;

/** An object parameter whose keys given static arguments may be left out. */
type WithFixed<P, Opt extends string> = Simplify<Omit<P, Opt> & Partial<Pick<P, Opt & keyof P>>>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Named arguments from the parameters' slots and the declared names, in the same order. */
type FromSlots<Sl extends readonly unknown[], N extends readonly string[], Opt extends string> = {
  [
    I in keyof N & `${number}` as N[I] extends Opt
      ? never
      : I extends keyof Sl
        ? Sl[I] extends { optional: false }
          ? N[I]
          : never
        : never
  ]: I extends keyof Sl ? (Sl[I] extends { type: infer T } ? T : unknown) : unknown;
} & {
  [
    I in keyof N & `${number}` as N[I] extends Opt
      ? N[I]
      : I extends keyof Sl
        ? Sl[I] extends { optional: false }
          ? never
          : N[I]
        : N[I]
  ]?: I extends keyof Sl ? (Sl[I] extends { type: infer T } ? T : unknown) : unknown;
};

/**
 * What `stage.runNamed(args)` (and `explainNamed`) accepts: one key per parameter named by the
 * stage's `inputs` option, typed from the function's parameters; a parameter with a default,
 * an optional one, or one given a static argument (`args` option) may be left out. Without
 * `inputs` the names are unknown to TypeScript and any object is accepted (the run still
 * rejects an unknown name, with `unknown-argument`).
 *
 * @typeParam F - the wrapped function
 * @typeParam N - the parameter names, from the `inputs` option
 * @typeParam S - the static arguments, from the `args` option
 */
export type NamedArgs<F, N extends readonly string[], S> =
  Unnamed<N> extends true
    ? Record<string, unknown>
    : IsAny<Params<F>> extends true
      ? { readonly [K in N[number]]?: unknown }
      : [ObjectParam<F, N[number]>] extends [never]
        ? Simplify<FromSlots<Slots<Params<F>>, N, Fixed<S>>>
        : WithFixed<ObjectParam<F, N[number]>, Fixed<S>>;

/** A tuple whose elements may be left out where they and every one after them are covered. */
type OptionalFrom<P extends readonly unknown[], Covered extends readonly boolean[]> =
  AllTrue<Covered> extends true
    ? Partial<P>
    : P extends readonly [infer H, ...infer T]
      ? Covered extends readonly [boolean, ...infer C extends boolean[]]
        ? [H, ...OptionalFrom<T, C>]
        : P
      : P;

type AllTrue<C extends readonly boolean[]> = false extends C[number] ? false : true;

/** For each declared name: whether a static argument or the function's own default covers it. */
type CoveredSlots<
  Sl extends readonly unknown[],
  N extends readonly string[],
  Opt extends string,
> = {
  [I in keyof Sl]: I extends keyof N
    ? N[I] extends Opt
      ? true
      : Sl[I] extends { optional: true }
        ? true
        : false
    : true;
};

/**
 * What `stage.run(...args)` (and `explain`) accepts: the wrapped function's parameters, by
 * position. Too many or too few arguments, or one of the wrong type, fail to compile. When the
 * stage has static arguments (`args` option) some parameters need no argument: with `inputs`
 * the trailing ones they cover may be left out; without it, which position a static argument
 * fills is unknown to TypeScript, so any trailing arguments may be left out.
 *
 * @typeParam F - the wrapped function
 * @typeParam N - the parameter names, from the `inputs` option
 * @typeParam S - the static arguments, from the `args` option
 */
export type PositionalArgs<F, N extends readonly string[], S> =
  IsAny<Params<F>> extends true
    ? unknown[]
    : [Fixed<S>] extends [never]
      ? Params<F>
      : [ObjectParam<F, Fixed<S>>] extends [never]
        ? Unnamed<N> extends true
          ? Partial<Params<F>>
          : OptionalFrom<Params<F>, CoveredSlots<Slots<Params<F>>, N, Fixed<S>>>
        : [WithFixed<ObjectParam<F, Fixed<S>>, Fixed<S>>];

/**
 * What `stage.map(lists)` accepts: with the `inputs` option, lists keyed by parameter name,
 * each element typed as that parameter; without it, lists under any names (checked when it
 * runs).
 *
 * @typeParam F - the wrapped function
 * @typeParam N - the parameter names, from the `inputs` option
 * @typeParam S - the static arguments, from the `args` option
 */
export type MapLists<F, N extends readonly string[], S> =
  Unnamed<N> extends true
    ? Record<string, readonly unknown[]>
    : { readonly [K in keyof NamedArgs<F, N, S>]?: readonly NamedArgs<F, N, S>[K][] };
