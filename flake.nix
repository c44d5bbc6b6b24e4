{
  description = "myplugin: a Core Lightning plugin in Rust, with dev shells pinning CLN + bitcoind";

  # Every input is pinned to an exact nixpkgs commit, so flake.lock is fully
  # determined by this file. How each revision was chosen, and which
  # clightning it carries, is in docs/ENVIRONMENT.md.
  inputs = {
    # nixpkgs-unstable, 2026-05-03: clightning 26.04.1 (newest CLN in nixpkgs).
    # Also supplies the Rust toolchain, jq, entr and shellcheck for every shell.
    nixpkgs.url = "github:NixOS/nixpkgs/73c703c22422b8951895a960959dbbaca7296492";
    # nixpkgs-unstable, 2026-03-05: clightning 25.12.1.
    nixpkgs-cln-25_12.url = "github:NixOS/nixpkgs/917fec990948658ef1ccd07cef2a1ef060786846";
    # nixpkgs-unstable, 2025-01-20: clightning 24.11.1 (nixpkgs never had 24.11.2).
    nixpkgs-cln-24_11.url = "github:NixOS/nixpkgs/300081d0cc72df578b02d914df941b8ec62240e6";
    # nixpkgs-unstable, 2023-03-19: clightning 23.02.2.
    nixpkgs-cln-23_02.url = "github:NixOS/nixpkgs/5a05160f7671434e1c833b1b01284b876e04eca4";
  };

  outputs =
    {
      nixpkgs,
      nixpkgs-cln-25_12,
      nixpkgs-cln-24_11,
      nixpkgs-cln-23_02,
      ...
    }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );

      # One dev shell: the Rust toolchain and tools from `nixpkgs`, lightningd
      # and bitcoind taken together from `clnPkgs` (the pair that nixpkgs
      # revision built and tested together).
      mkDevShell =
        system: clnPkgs:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          cln = clnPkgs.clightning;
          btc = clnPkgs.bitcoind;
        in
        pkgs.mkShell {
          name = "myplugin-cln-${cln.version}";
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            cln
            btc
            pkgs.jq
            pkgs.entr
            pkgs.shellcheck
            # initdb and postgres for itest's PostgreSQL nodes.
            pkgs.postgresql
          ];
          # The itest must never skip silently inside a dev shell.
          ITEST_REQUIRE = "1";
          shellHook = ''
            echo "myplugin dev shell: Core Lightning ${cln.version} (lightningd, lightning-cli)," \
              "bitcoind ${btc.version}, rustc ${pkgs.rustc.version}; ITEST_REQUIRE=1"
            echo "  manual network: source scripts/start_ln.sh; start_ln 2   (see docs/ENVIRONMENT.md)"
          '';
        };
    in
    {
      devShells = forAllSystems (
        system:
        let
          latest = mkDevShell system nixpkgs.legacyPackages.${system};
        in
        {
          default = latest;
          cln-v26_04 = latest;
          cln-v25_12 = mkDevShell system nixpkgs-cln-25_12.legacyPackages.${system};
          cln-v24_11 = mkDevShell system nixpkgs-cln-24_11.legacyPackages.${system};
          cln-v23_02 = mkDevShell system nixpkgs-cln-23_02.legacyPackages.${system};
        }
      );
    };
}
