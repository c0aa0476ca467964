// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {BoundedPausable} from "./BoundedPausable.sol";
import {IFastPayVault} from "./IFastPayVault.sol";

/// @title TokenVault
/// @notice Custody of the FastPay stablecoins. Two kinds of internal balance, both in token
///         base units: the POOL per token (funds inside FastPay, i.e. on the authorities'
///         off-chain ledger) and a withdrawable balance per on-chain account (credited when a
///         certificate is redeemed to that account). Invariant, per token:
///         token.balanceOf(vault) == pool + sum of account balances.
/// @dev No single key can take the money:
///      - the wiring is fixed at deployment: deposits come only through the FastPayRegistry
///        (`depositor`, DEPOSITOR_ROLE) and credits only through the OfflinePaymentProcessor
///        (`processor`, PROCESSOR_ROLE), both immutable; nobody can grant, revoke or renounce
///        these two roles afterwards (`WiringRoleFixed`), the admin included;
///      - DEFAULT_ADMIN_ROLE (the TimelockController in production) moves with a two-step,
///        delayed transfer (AccessControlDefaultAdminRules); it lists tokens, unpauses and
///        schedules a migration, which takes effect `migrationDelay` (>= 48 h) later;
///      - the guardian's pause ends by itself (BoundedPausable: at most 3 days, then at least
///        1 day before the next); a pause while a migration is pending pushes the migration
///        back by the pause's maximum, so users always get the whole delay to withdraw;
///      - a migration moves the POOL only, token by token (`migrateToken`), to a FastPay
///        vault whose `predecessor()` is this vault, which is seeded with it in the same call
///        (`acceptMigration`); withdrawable balances stay here and their owners keep
///        withdrawing them from this vault for ever.
contract TokenVault is AccessControlDefaultAdminRules, BoundedPausable, ReentrancyGuard, IFastPayVault {
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

    /// @notice The only account that may pull deposits into the pool (the registry).
    address public immutable depositor;
    /// @notice The only account that may credit the pool to accounts (the processor).
    address public immutable processor;
    /// @notice The vault this one accepts a migrated pool from (address(0): none).
    address public immutable predecessor;

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
    /// @notice True once the first token's pool migrated: no more deposits or credits here
    ///         (withdrawals go on).
    bool public migrated;
    mapping(address token => bool) public tokenMigrated;

    event TokenAdded(address indexed token, uint256 id, uint8 decimals, uint8 ledgerDecimals);
    event DepositsEnabled(address indexed token, bool enabled);
    event PoolDeposit(address indexed token, address indexed from, uint256 amount, uint256 units);
    event Withdrawn(address indexed account, address indexed token, address to, uint256 amount);
    event MigrationDelayChanged(uint256 previousDelay, uint256 newDelay);
    event MigrationScheduled(address indexed newVault, uint256 eta);
    event MigrationCancelled(address indexed newVault);
    /// @notice A pause while a migration was pending moved its eta back.
    event MigrationPostponed(address indexed newVault, uint256 eta);
    event MigrationExecuted(address indexed newVault, address indexed token, uint256 amount);
    /// @notice The predecessor's pool of `token` was moved here (`amount` base units).
    event MigrationAccepted(address indexed predecessor, address indexed token, uint256 amount);

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
    error MigrationStarted();
    error TokenAlreadyMigrated(address token);
    error VaultMigrated();
    /// @dev The migration target is not a FastPay vault that names this vault its predecessor.
    error NotAFastPayVault(address target);
    error NotPredecessor(address caller);
    /// @dev PROCESSOR_ROLE and DEPOSITOR_ROLE are fixed at deployment.
    error WiringRoleFixed(bytes32 role);

    /// @param adminDelay Delay of a DEFAULT_ADMIN_ROLE transfer (AccessControlDefaultAdminRules).
    /// @param admin DEFAULT_ADMIN_ROLE (the TimelockController in production).
    /// @param guardian Receives GUARDIAN_ROLE (may pause, for a bounded time, and cancel a
    ///        migration).
    /// @param depositor_ The FastPayRegistry (its address is known before it is deployed).
    /// @param processor_ The OfflinePaymentProcessor (likewise).
    /// @param predecessor_ The vault whose pool this one may receive, or address(0).
    /// @param migrationDelay_ Time-lock for moving the pool to a new vault (>= 48 hours).
    constructor(
        uint48 adminDelay,
        address admin,
        address guardian,
        address depositor_,
        address processor_,
        address predecessor_,
        uint256 migrationDelay_
    ) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (guardian == address(0) || depositor_ == address(0) || processor_ == address(0)) {
            revert ZeroAddress();
        }
        if (migrationDelay_ < MIN_MIGRATION_DELAY) {
            revert MigrationDelayTooShort(migrationDelay_, MIN_MIGRATION_DELAY);
        }
        _grantRole(GUARDIAN_ROLE, guardian);
        _grantRole(DEPOSITOR_ROLE, depositor_);
        _grantRole(PROCESSOR_ROLE, processor_);
        depositor = depositor_;
        processor = processor_;
        predecessor = predecessor_;
        migrationDelay = migrationDelay_;
        emit MigrationDelayChanged(0, migrationDelay_);
    }

    modifier onlyDepositor() {
        if (msg.sender != depositor) revert AccessControlUnauthorizedAccount(msg.sender, DEPOSITOR_ROLE);
        _;
    }

    modifier onlyProcessor() {
        if (msg.sender != processor) revert AccessControlUnauthorizedAccount(msg.sender, PROCESSOR_ROLE);
        _;
    }

    modifier notMigrated() {
        if (migrated) revert VaultMigrated();
        _;
    }

    // ---------------------------------------------------------------- token allow-list

    /// @notice List a token; its decimals are read from the token itself.
    /// @param token ERC-20 address.
    /// @param ledgerDecimals Decimals of FastPay ledger units (6 for USDT/USDC).
    function addToken(address token, uint8 ledgerDecimals) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _addToken(token, ledgerDecimals);
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
        onlyDepositor
        whenNotPaused
        notMigrated
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
        _pull(token, from, amount);
    }

    /// @notice Move `units` ledger units of `token` from the pool to `account`'s withdrawable
    ///         balance (caller: the payment processor, after verifying a certificate).
    /// @dev No event here: the processor emits PaymentSettled for every credit (gas).
    /// @return amount The credited base units.
    ///      Not stopped by the vault's pause (a credit moves nothing out of the vault; only
    ///      the processor's pause stops settlement, so two pauses in turn cannot outlast a
    ///      closed epoch's settlement window).
    function credit(address token, address account, uint256 units)
        external
        onlyProcessor
        notMigrated
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
    ///      Not stopped by the vault's pause, as `credit`.
    function creditBatch(uint256[] calldata credits) external onlyProcessor notMigrated {
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

    /// @notice Withdraw the caller's own balance to `to`. Open during a pending migration and
    ///         after one (balances stay in this vault); stopped only by a (bounded) pause.
    function withdraw(address token, uint256 amount, address to) external {
        _withdraw(msg.sender, token, amount, to);
    }

    /// @notice Withdraw on behalf of `account` (caller: the registry, forwarding the account).
    function withdrawFor(address account, address token, uint256 amount, address to) external onlyDepositor {
        _withdraw(account, token, amount, to);
    }

    // ---------------------------------------------------------------- emergency

    /// @notice Stop deposits, credits and withdrawals (guardian) for at most
    ///         MAX_PAUSE_DURATION; a pending migration is postponed by that much, so the
    ///         pause never eats into the users' time to withdraw before it.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pauseBounded();
        if (pendingMigration != address(0) && !migrated) {
            migrationEta += MAX_PAUSE_DURATION;
            emit MigrationPostponed(pendingMigration, migrationEta);
        }
    }

    /// @notice End the pause before it expires (admin).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpauseEarly();
    }

    /// @notice Change the migration time-lock; never below 48 hours. A migration already
    ///         scheduled keeps its eta.
    function setMigrationDelay(uint256 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newDelay < MIN_MIGRATION_DELAY) revert MigrationDelayTooShort(newDelay, MIN_MIGRATION_DELAY);
        emit MigrationDelayChanged(migrationDelay, newDelay);
        migrationDelay = newDelay;
    }

    /// @notice Announce that the pool will move to `newVault` after the time-lock.
    ///         `newVault` must be a FastPay vault (ERC-165 IFastPayVault) whose predecessor is
    ///         this vault, so it is seeded with each token's pool as it arrives.
    function scheduleMigration(address newVault) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newVault == address(0)) revert ZeroAddress();
        if (migrated) revert VaultMigrated();
        if (pendingMigration != address(0)) revert MigrationAlreadyPending(pendingMigration);
        if (
            newVault == address(this)
                || !ERC165Checker.supportsInterface(newVault, type(IFastPayVault).interfaceId)
                || IFastPayVault(newVault).predecessor() != address(this)
        ) revert NotAFastPayVault(newVault);
        pendingMigration = newVault;
        migrationEta = block.timestamp + migrationDelay;
        emit MigrationScheduled(newVault, migrationEta);
    }

    /// @notice Cancel a scheduled migration (admin or guardian), before any token moved.
    function cancelMigration() external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        address newVault = pendingMigration;
        if (newVault == address(0)) revert NoMigrationPending();
        if (migrated) revert MigrationStarted();
        pendingMigration = address(0);
        migrationEta = 0;
        emit MigrationCancelled(newVault);
    }

    /// @notice After the time-lock and while not paused, move `token`'s whole pool to the new
    ///         vault, which is seeded with it in the same call. One token per call, so a token
    ///         that refuses transfers blocks only itself. The first call stops deposits and
    ///         credits here for good; withdrawable balances stay and remain withdrawable.
    function migrateToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) whenNotPaused nonReentrant {
        address newVault = pendingMigration;
        if (newVault == address(0)) revert NoMigrationPending();
        if (block.timestamp < migrationEta) revert MigrationNotReady(migrationEta);
        TokenConfig memory cfg = tokenConfig[token];
        if (cfg.scale == 0) revert TokenNotListed(token);
        if (tokenMigrated[token]) revert TokenAlreadyMigrated(token);
        migrated = true;
        tokenMigrated[token] = true;
        uint256 amount = poolBalance[token];
        poolBalance[token] = 0;
        emit MigrationExecuted(newVault, token, amount);
        IERC20(token).forceApprove(newVault, amount);
        IFastPayVault(newVault).acceptMigration(token, cfg.ledgerDecimals, amount);
        uint256 left = IERC20(token).allowance(address(this), newVault);
        if (left != 0) revert TransferAmountMismatch(amount, amount - left);
    }

    /// @inheritdoc IFastPayVault
    function acceptMigration(address token, uint8 ledgerDecimals, uint256 amount) external nonReentrant {
        if (msg.sender != predecessor || predecessor == address(0)) revert NotPredecessor(msg.sender);
        if (migrated) revert VaultMigrated();
        TokenConfig memory cfg = tokenConfig[token];
        if (cfg.scale == 0) _addToken(token, ledgerDecimals);
        else if (cfg.ledgerDecimals != ledgerDecimals) revert UnsupportedDecimals(cfg.decimals, ledgerDecimals);
        poolBalance[token] += amount;
        emit MigrationAccepted(msg.sender, token, amount);
        if (amount != 0) _pull(token, msg.sender, amount);
    }

    /// @notice ERC-165: IFastPayVault (what a migration checks) and the access control ones.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IFastPayVault).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internals

    /// @dev The wiring roles are granted in the constructor only, never afterwards.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        if ((role == PROCESSOR_ROLE || role == DEPOSITOR_ROLE) && address(this).code.length != 0) {
            revert WiringRoleFixed(role);
        }
        return super._grantRole(role, account);
    }

    /// @dev ... and never revoked or renounced (which could only stop the system).
    function _revokeRole(bytes32 role, address account) internal override returns (bool) {
        if (role == PROCESSOR_ROLE || role == DEPOSITOR_ROLE) revert WiringRoleFixed(role);
        return super._revokeRole(role, account);
    }

    function _addToken(address token, uint8 ledgerDecimals) private {
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

    /// @dev Pull exactly `amount` of `token` from `from` (no fee-on-transfer tokens).
    function _pull(address token, address from, uint256 amount) private {
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }

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
