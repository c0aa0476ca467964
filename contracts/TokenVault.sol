// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title TokenVault
/// @notice Custody of the FastPay stablecoins. Two kinds of internal balance, both in token
///         base units: the POOL per token (funds inside FastPay, i.e. on the authorities'
///         off-chain ledger) and a withdrawable balance per on-chain account (credited when a
///         certificate is redeemed to that account). Invariant, per token:
///         token.balanceOf(vault) == pool + sum of account balances.
/// @dev Deposits come through FastPayRegistry (DEPOSITOR_ROLE), credits through
///      OfflinePaymentProcessor (PROCESSOR_ROLE). Emergency: the guardian pauses; moving all
///      funds to a new vault needs a cancellable time-lock of at least 48 hours.
contract TokenVault is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant DEPOSITOR_ROLE = keccak256("DEPOSITOR_ROLE");
    bytes32 public constant PROCESSOR_ROLE = keccak256("PROCESSOR_ROLE");

    uint256 public constant MIN_MIGRATION_DELAY = 48 hours;
    uint8 public constant MAX_DECIMALS = 36;

    /// @dev One slot. `scale` = 10**(decimals - ledgerDecimals); zero means "not listed".
    struct TokenConfig {
        uint128 scale;
        uint16 id;
        uint8 decimals;
        uint8 ledgerDecimals;
        bool depositsEnabled;
    }

    mapping(address token => TokenConfig) public tokenConfig;
    /// @notice Listed tokens by id (the compact token reference used in committee batches).
    address[] public tokens;
    /// @notice Base units held for FastPay accounts, per token.
    mapping(address token => uint256) public poolBalance;
    /// @notice Withdrawable base units per on-chain account and token.
    mapping(address account => mapping(address token => uint256)) public balanceOf;

    uint256 public migrationDelay;
    address public pendingMigration;
    uint256 public migrationEta;
    bool public migrated;

    event TokenAdded(address indexed token, uint256 id, uint8 decimals, uint8 ledgerDecimals);
    event DepositsEnabled(address indexed token, bool enabled);
    event PoolDeposit(address indexed token, address indexed from, uint256 amount, uint256 units);
    event Withdrawn(address indexed account, address indexed token, address to, uint256 amount);
    event MigrationDelayChanged(uint256 previousDelay, uint256 newDelay);
    event MigrationScheduled(address indexed newVault, uint256 eta);
    event MigrationCancelled(address indexed newVault);
    event MigrationExecuted(address indexed newVault, address indexed token, uint256 amount);

    error ZeroAddress();
    error ZeroAmount();
    error TokenAlreadyListed(address token);
    error TokenNotListed(address token);
    error UnknownTokenId(uint256 id);
    error DepositsDisabled(address token);
    error UnsupportedDecimals(uint8 decimals, uint8 ledgerDecimals);
    error NotWholeLedgerUnits(uint256 amount, uint256 scale);
    error TransferAmountMismatch(uint256 expected, uint256 received);
    error InsufficientBalance(uint256 available, uint256 requested);
    error InsufficientPool(address token, uint256 available, uint256 requested);
    error MigrationDelayTooShort(uint256 delay, uint256 minimum);
    error MigrationAlreadyPending(address newVault);
    error NoMigrationPending();
    error MigrationNotReady(uint256 eta);
    error VaultMigrated();

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param guardian Receives GUARDIAN_ROLE (may pause and cancel a migration).
    /// @param migrationDelay_ Time-lock for moving funds to a new vault (>= 48 hours).
    constructor(address admin, address guardian, uint256 migrationDelay_) {
        if (admin == address(0) || guardian == address(0)) revert ZeroAddress();
        if (migrationDelay_ < MIN_MIGRATION_DELAY) {
            revert MigrationDelayTooShort(migrationDelay_, MIN_MIGRATION_DELAY);
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        migrationDelay = migrationDelay_;
        emit MigrationDelayChanged(0, migrationDelay_);
    }

    // ---------------------------------------------------------------- token allow-list

    /// @notice List a token; its decimals are read from the token itself.
    /// @param token ERC-20 address.
    /// @param ledgerDecimals Decimals of FastPay ledger units (6 for USDT/USDC).
    function addToken(address token, uint8 ledgerDecimals) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        if (tokenConfig[token].scale != 0) revert TokenAlreadyListed(token);
        uint8 decimals = IERC20Metadata(token).decimals();
        if (decimals < ledgerDecimals || decimals > MAX_DECIMALS) {
            revert UnsupportedDecimals(decimals, ledgerDecimals);
        }
        uint256 id = tokens.length;
        tokenConfig[token] = TokenConfig({
            scale: uint128(10 ** (decimals - ledgerDecimals)),
            id: uint16(id),
            decimals: decimals,
            ledgerDecimals: ledgerDecimals,
            depositsEnabled: true
        });
        tokens.push(token);
        emit TokenAdded(token, id, decimals, ledgerDecimals);
    }

    /// @notice Stop or resume deposits of a listed token (withdrawals and credits go on).
    function setDepositsEnabled(address token, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (tokenConfig[token].scale == 0) revert TokenNotListed(token);
        tokenConfig[token].depositsEnabled = enabled;
        emit DepositsEnabled(token, enabled);
    }

    /// @notice Number of listed tokens (ids are 0 .. tokenCount()-1).
    function tokenCount() external view returns (uint256) {
        return tokens.length;
    }

    /// @notice Ledger units -> base units factor of a listed token.
    function scaleOf(address token) external view returns (uint256) {
        uint256 scale = tokenConfig[token].scale;
        if (scale == 0) revert TokenNotListed(token);
        return scale;
    }

    // ---------------------------------------------------------------- money in and out

    /// @notice Pull `amount` base units from `from` into the pool (caller: the registry).
    /// @dev `from` must have approved this vault. Reverts unless `amount` is a whole number
    ///      of ledger units, and unless the vault received exactly `amount` (no fee tokens).
    /// @return units The amount in ledger units.
    function depositToPool(address from, address token, uint256 amount)
        external
        onlyRole(DEPOSITOR_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint256 units)
    {
        TokenConfig memory cfg = tokenConfig[token];
        if (cfg.scale == 0) revert TokenNotListed(token);
        if (!cfg.depositsEnabled) revert DepositsDisabled(token);
        if (amount == 0) revert ZeroAmount();
        if (amount % cfg.scale != 0) revert NotWholeLedgerUnits(amount, cfg.scale);
        units = amount / cfg.scale;

        poolBalance[token] += amount;
        emit PoolDeposit(token, from, amount, units);

        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }

    /// @notice Move `units` ledger units of `token` from the pool to `account`'s withdrawable
    ///         balance (caller: the payment processor, after verifying a certificate).
    /// @dev No event here: the processor emits PaymentSettled for every credit (gas).
    /// @return amount The credited base units.
    function credit(address token, address account, uint256 units)
        external
        onlyRole(PROCESSOR_ROLE)
        whenNotPaused
        returns (uint256 amount)
    {
        uint256 scale = tokenConfig[token].scale;
        if (scale == 0) revert TokenNotListed(token);
        if (account == address(0)) revert ZeroAddress();
        amount = units * scale;
        _debitPool(token, amount);
        balanceOf[account][token] += amount;
    }

    /// @notice Credit many accounts at once (the committee-batch path).
    /// @dev `credits` holds pairs of words: tokenId, then recipient << 96 | units (ledger
    ///      units, 96 bits). Runs of the same token debit the pool once. The processor has
    ///      already checked every item against `tokenState`, so a failure here (unknown
    ///      token, pool too small) reverts the whole call.
    function creditBatch(uint256[] calldata credits)
        external
        onlyRole(PROCESSOR_ROLE)
        whenNotPaused
    {
        uint256 length = credits.length;
        uint256 currentId = type(uint256).max;
        address token;
        uint256 scale;
        uint256 debit;
        for (uint256 i = 0; i < length;) {
            uint256 tokenId;
            uint256 word;
            // Unchecked arithmetic (indexing stays bounds-checked): units < 2**96 and
            // scale <= 10**36 < 2**120, so no amount or batch debit can overflow, and no balance
            // can exceed what the vault holds, which the pool check below enforces.
            unchecked {
                tokenId = credits[i];
                word = credits[i + 1];
                i += 2;
            }
            if (tokenId != currentId) {
                if (debit != 0) _debitPool(token, debit);
                debit = 0;
                if (tokenId >= tokens.length) revert UnknownTokenId(tokenId);
                currentId = tokenId;
                token = tokens[tokenId];
                scale = tokenConfig[token].scale;
            }
            address account = address(uint160(word >> 96));
            if (account == address(0)) revert ZeroAddress();
            unchecked {
                uint256 amount = uint256(uint96(word)) * scale;
                debit += amount;
                balanceOf[account][token] += amount;
            }
        }
        if (debit != 0) _debitPool(token, debit);
    }

    /// @notice Address, ledger-unit scale and pool balance (base units) of token `tokenId`.
    function tokenState(uint256 tokenId)
        external
        view
        returns (address token, uint256 scale, uint256 pool)
    {
        if (tokenId >= tokens.length) revert UnknownTokenId(tokenId);
        token = tokens[tokenId];
        return (token, tokenConfig[token].scale, poolBalance[token]);
    }

    /// @notice Withdraw the caller's own balance to `to`.
    function withdraw(address token, uint256 amount, address to) external {
        _withdraw(msg.sender, token, amount, to);
    }

    /// @notice Withdraw on behalf of `account` (caller: the registry, forwarding the account).
    function withdrawFor(address account, address token, uint256 amount, address to)
        external
        onlyRole(DEPOSITOR_ROLE)
    {
        _withdraw(account, token, amount, to);
    }

    // ---------------------------------------------------------------- emergency

    /// @notice Stop deposits, credits and withdrawals (guardian).
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Resume after an incident (admin); impossible once the funds have migrated.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (migrated) revert VaultMigrated();
        _unpause();
    }

    /// @notice Change the migration time-lock; never below 48 hours.
    function setMigrationDelay(uint256 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newDelay < MIN_MIGRATION_DELAY) revert MigrationDelayTooShort(newDelay, MIN_MIGRATION_DELAY);
        emit MigrationDelayChanged(migrationDelay, newDelay);
        migrationDelay = newDelay;
    }

    /// @notice Announce that all funds will move to `newVault` after the time-lock.
    function scheduleMigration(address newVault) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newVault == address(0)) revert ZeroAddress();
        if (migrated) revert VaultMigrated();
        if (pendingMigration != address(0)) revert MigrationAlreadyPending(pendingMigration);
        pendingMigration = newVault;
        migrationEta = block.timestamp + migrationDelay;
        emit MigrationScheduled(newVault, migrationEta);
    }

    /// @notice Cancel a scheduled migration (admin or guardian).
    function cancelMigration() external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        address newVault = pendingMigration;
        if (newVault == address(0)) revert NoMigrationPending();
        pendingMigration = address(0);
        migrationEta = 0;
        emit MigrationCancelled(newVault);
    }

    /// @notice After the time-lock, move every listed token's whole balance to the new vault
    ///         and freeze this one for good. The internal balances stay readable here so the
    ///         new vault can be seeded from them.
    function executeMigration() external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        address newVault = pendingMigration;
        if (newVault == address(0)) revert NoMigrationPending();
        if (block.timestamp < migrationEta) revert MigrationNotReady(migrationEta);
        pendingMigration = address(0);
        migrationEta = 0;
        migrated = true;
        if (!paused()) _pause();
        uint256 count = tokens.length;
        for (uint256 i = 0; i < count; ++i) {
            IERC20 token = IERC20(tokens[i]);
            uint256 amount = token.balanceOf(address(this));
            emit MigrationExecuted(newVault, address(token), amount);
            if (amount != 0) token.safeTransfer(newVault, amount);
        }
    }

    // ---------------------------------------------------------------- internals

    function _debitPool(address token, uint256 amount) private {
        uint256 pool = poolBalance[token];
        if (pool < amount) revert InsufficientPool(token, pool, amount);
        unchecked {
            poolBalance[token] = pool - amount;
        }
    }

    function _withdraw(address account, address token, uint256 amount, address to)
        private
        whenNotPaused
        nonReentrant
    {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 available = balanceOf[account][token];
        if (available < amount) revert InsufficientBalance(available, amount);
        unchecked {
            balanceOf[account][token] = available - amount;
        }
        emit Withdrawn(account, token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }
}
