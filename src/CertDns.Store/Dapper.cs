using Dapper;

// Every Dapper call in the store is generated at build time (see the csproj): no reflection, no DynamicMethod, so the
// NativeAOT program runs the same queries the tests do. Tuple rows bind by position, as Dapper's runtime binds them.
[module: DapperAot]
[module: BindTupleByName(false)]
