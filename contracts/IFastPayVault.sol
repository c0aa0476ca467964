// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IFastPayVault
/// @notice What a vault must offer to be a migration target: announced through ERC-165 and
///         checked by TokenVault.scheduleMigration (with `predecessor() == old vault`).
interface IFastPayVault {
    /// @notice The vault whose pool this one accepts when it migrates (address(0): none).
    function predecessor() external view returns (address);

    /// @notice Called by the predecessor while it migrates `token`: pull `amount` base units
    ///         of its pool (approved by the predecessor) into this vault's pool, listing the
    ///         token with `ledgerDecimals` if it is not listed yet.
    function acceptMigration(address token, uint8 ledgerDecimals, uint256 amount) external;
}
