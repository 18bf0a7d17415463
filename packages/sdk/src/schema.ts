/**
 * The TypeScript type a JSON Schema describes, so an entry's handler gets a typed input from the same schema the host
 * validates with: one source of truth. Covers what entry inputs use (object/array/scalars, required, enum, const,
 * anyOf/oneOf, type arrays); anything else is `unknown`, never a wrong type.
 */

export type JsonSchema = Readonly<Record<string, unknown>>;

interface Scalars {
  string: string;
  number: number;
  integer: number;
  boolean: boolean;
  null: null;
}

/** Flattens intersections so editors show `{ a: string; b?: number }` rather than `A & B`. */
type Expand<T> = T extends infer O ? { [K in keyof O]: O[K] } : never;

type RequiredKeys<S> = S extends { required: readonly (infer R)[] } ? R : never;

type ObjectOf<S> = S extends { properties: infer P }
  ? Expand<
      { -readonly [K in keyof P as K extends RequiredKeys<S> ? K : never]: FromSchema<P[K]> } & {
        -readonly [K in keyof P as K extends RequiredKeys<S> ? never : K]?: FromSchema<P[K]>;
      }
    >
  : S extends { additionalProperties: infer A extends object }
    ? Record<string, FromSchema<A>>
    : Record<string, unknown>;

type ArrayOf<S> = S extends { items: infer I extends object } ? FromSchema<I>[] : unknown[];

type Typed<S, T> = T extends "object"
  ? ObjectOf<S>
  : T extends "array"
    ? ArrayOf<S>
    : T extends keyof Scalars
      ? Scalars[T]
      : unknown;

export type FromSchema<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? FromSchema<A>
      : S extends { oneOf: readonly (infer A)[] }
        ? FromSchema<A>
        : S extends { type: readonly (infer T)[] }
          ? Typed<S, T>
          : S extends { type: infer T }
            ? Typed<S, T>
            : S extends { properties: object }
              ? ObjectOf<S>
              : unknown;
