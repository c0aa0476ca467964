// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

import {BoundedPausable} from "./BoundedPausable.sol";
import {TokenVault} from "./TokenVault.sol";

/// @title FastPayRegistry
/// @notice User-facing entry point: registration, deposits that fund a FastPay account (the
///         authorities follow `FastPayDeposit` and credit the account once, by depositId,
///         after enough confirmations) and withdrawals of on-chain balances.
/// @dev Tokens are pulled by the TokenVault: approve the vault, not this contract. This
///      contract is the vault's fixed `depositor` (checked at construction). It moves only
///      the caller's own money (deposits from, withdrawals of, msg.sender); its pause is
///      bounded (BoundedPausable) and users can always withdraw directly from the vault.
contract FastPayRegistry is AccessControlDefaultAdminRules, BoundedPausable {
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    TokenVault public immutable vault;
    mapping(address user => bool) public isRegistered;
    /// @notice Number of deposits so far; each deposit's id is the count after it.
    uint256 public depositCount;

    event UserRegistered(address indexed user);
    /// @notice A FastPay account was funded: `units` ledger units (`amount` base units).
    event FastPayDeposit(
        uint256 indexed depositId, address indexed account, address indexed token, uint256 units, uint256 amount
    );

    error AlreadyRegistered(address user);
    error NotRegistered(address user);
    /// @dev The vault's fixed depositor is not this contract (a wrong deployment).
    error VaultNotWired(address vault);

    /// @param adminDelay Delay of a DEFAULT_ADMIN_ROLE transfer (AccessControlDefaultAdminRules).
    /// @param admin DEFAULT_ADMIN_ROLE (the TimelockController in production).
    /// @param guardian Receives GUARDIAN_ROLE (may pause, for a bounded time).
    /// @param vault_ The custody vault, whose `depositor` must be this contract.
    constructor(uint48 adminDelay, address admin, address guardian, TokenVault vault_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (vault_.depositor() != address(this)) revert VaultNotWired(address(vault_));
        _grantRole(GUARDIAN_ROLE, guardian);
        vault = vault_;
    }

    /// @notice Register the caller's address as a FastPay account.
    function registerUser() external whenNotPaused {
        if (isRegistered[msg.sender]) revert AlreadyRegistered(msg.sender);
        isRegistered[msg.sender] = true;
        emit UserRegistered(msg.sender);
    }

    /// @notice Fund the caller's FastPay account with `amount` base units of `token`.
    /// @dev `amount` must be a whole number of ledger units (else the vault reverts with
    ///      NotWholeLedgerUnits); the caller must have approved the vault.
    /// @return depositId The id the authorities credit this deposit under.
    function depositTokens(address token, uint256 amount)
        external
        whenNotPaused
        returns (uint256 depositId)
    {
        if (!isRegistered[msg.sender]) revert NotRegistered(msg.sender);
        depositId = ++depositCount;
        uint256 units = vault.depositToPool(msg.sender, token, amount);
        emit FastPayDeposit(depositId, msg.sender, token, units, amount);
    }

    /// @notice Withdraw `amount` base units of the caller's on-chain vault balance.
    function withdrawTokens(address token, uint256 amount) external whenNotPaused {
        vault.withdrawFor(msg.sender, token, amount, msg.sender);
    }

    /// @notice Withdrawable on-chain balance of `user` in the vault, in base units.
    function getUserBalance(address user, address token) external view returns (uint256) {
        return vault.balanceOf(user, token);
    }

    /// @notice Stop registrations, deposits and withdrawals through the registry (guardian),
    ///         for at most MAX_PAUSE_DURATION (BoundedPausable).
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pauseBounded();
    }

    /// @notice End the pause early (admin).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpauseEarly();
    }
}
