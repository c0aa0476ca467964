// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BatchTransfer
/// @notice Many ERC-20 transfers from the caller's own balance in one transaction (merchant
///         payouts: settlement/payouts, docs/withdrawals.md "Merchant payouts").
/// @dev    Deliberately minimal, to be easy to audit:
///         - no owner, no admin, no storage, no upgrade, no ether (non-payable, no receive);
///         - it only ever moves tokens FROM ``msg.sender`` (``transferFrom(msg.sender, ...)``),
///           so an allowance given to it can only be spent by the one who gave it: an
///           unlimited approval by the hot wallet exposes nothing to anyone else;
///         - all or nothing: any item that fails (a frozen recipient, a short balance, a
///           token that returns false) reverts the whole call. The platform books a batch as
///           one outcome (every payout of it paid, or every one failed with its money back),
///           so a partial result would need per-item bookkeeping from logs and could leave
///           the ledger and the chain disagreeing; the caller checks its balance first, so a
///           revert is rare and loses only gas;
///         - one ``Paid`` event per transfer, carrying the payout's reference, so every
///           payout can be found on-chain (besides the token's own ``Transfer``).
contract BatchTransfer {
    using SafeERC20 for IERC20;

    /// @notice Largest batch accepted (keeps one call well under a block's gas limit).
    uint256 public constant MAX_ITEMS = 256;

    /// @notice One transfer of a batch: ``amount`` of ``token`` from ``from`` to ``to``.
    event Paid(
        IERC20 indexed token, address indexed from, address indexed to, uint256 amount, bytes32 ref
    );
    /// @notice The whole batch: ``count`` transfers totalling ``total``.
    event BatchPaid(IERC20 indexed token, address indexed from, uint256 count, uint256 total);

    error EmptyBatch();
    error TooManyItems(uint256 count);
    error LengthMismatch();
    error ZeroRecipient(uint256 index);
    error ZeroAmount(uint256 index);

    /// @notice Send ``amounts[i]`` of ``token`` from the caller to ``recipients[i]`` for every
    ///         i, all or nothing. The caller must have approved this contract for the total.
    /// @param refs one reference per item (the payout's id), emitted in ``Paid``.
    function batchTransfer(
        IERC20 token,
        address[] calldata recipients,
        uint256[] calldata amounts,
        bytes32[] calldata refs
    ) external returns (uint256 total) {
        uint256 count = recipients.length;
        if (count == 0) revert EmptyBatch();
        if (count > MAX_ITEMS) revert TooManyItems(count);
        if (amounts.length != count || refs.length != count) revert LengthMismatch();
        for (uint256 i = 0; i < count; ++i) {
            address to = recipients[i];
            uint256 amount = amounts[i];
            if (to == address(0)) revert ZeroRecipient(i);
            if (amount == 0) revert ZeroAmount(i);
            token.safeTransferFrom(msg.sender, to, amount);
            emit Paid(token, msg.sender, to, amount, refs[i]);
            total += amount;
        }
        emit BatchPaid(token, msg.sender, count, total);
    }
}
