/**
 * The type of a pipeline's merged results, read from the types of its stages. Types only
 * (nothing here runs).
 */

/** `true` when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;

/** The results of one node, as its `results` getter has them (`Record` when unknown). */
type NodeResults<S> =
  IsAny<S> extends true
    ? Record<string, unknown>
    : S extends { readonly results: infer R }
      ? IsAny<R> extends true
        ? Record<string, unknown>
        : string extends keyof NonNullable<R>
          ? Record<string, unknown> // names not known as literals (\`Stage<any>\`, outputs: string[])
          : NonNullable<R>
      : Record<string, unknown>;

/** Every key of every member of a union of records. */
type KeysOf<U> = U extends unknown ? keyof U : never;

/** The value at `K` in whichever member of the union has it. */
type ValueAt<U, K extends PropertyKey> = U extends unknown
  ? K extends keyof U
    ? U[K]
    : never
  : never;

/** One record from a union of records: a key two stages share gets the union of both types. */
type Merged<U> = { [K in KeysOf<U> & string]: ValueAt<U, K> };

/**
 * What `pipeline.run()` resolves to: every stage's results (outputs and aliases) merged into
 * one object, typed from the stages' result types. A name two stages produce has the union
 * of their types (the one later in run order wins at run time); mapped stages give one array
 * per output. When the definition is not a literal (its type is `PipelineDefinition`, or a
 * stage's type is not known), the result is `Record<string, unknown>` for those stages.
 * When the definition's type is an array, not a tuple, it stands for some of these stages, so
 * every key is optional (a stage left out has no results): a definition built with `push()`,
 * a pipeline from `upTo()` or from `withOptions({ only })` (a run that leaves stages out).
 * The types do not see `only` given to the constructor: give it with `withOptions()` for the
 * type to say so.
 *
 * @typeParam D - the pipeline's definition, as written (`[source, stage]` pairs)
 */
export type PipelineResults<D> =
  D extends ReadonlyArray<readonly [unknown, infer S]>
    ? D extends readonly unknown[]
      ? number extends D["length"]
        ? Partial<Merged<NodeResults<S>>>
        : Merged<NodeResults<S>>
      : Merged<NodeResults<S>>
    : Record<string, unknown>;
