"""CertificateVerifier: the attacks on a certificate's quorum."""

from brownie import chain
from certificates import AUTHORITIES, certify, domain_of, malleable
from conftest import STAKE, advance_epoch
from revert_reasons import selector

from fastpay_protocol import typed_data as td


def status(verifier, order, signatures):
    return bytes(verifier.certificateStatus(order.as_tuple(), signatures))


def test_three_of_four_is_a_quorum(verifier, domain, committee, make_order):
    order = make_order()
    certificate = certify(domain, order, committee[1:])
    assert status(verifier, order, certificate) == bytes(4)
    assert verifier.verifyCertificate(order.as_tuple(), certificate)


def test_two_of_four_is_below_quorum(verifier, domain, committee, make_order):
    order = make_order()
    assert status(verifier, order, certify(domain, order, committee[:2])) == selector("BelowQuorum")


def test_a_forged_signature_by_an_outsider_does_not_count(verifier, domain, committee, make_order):
    order = make_order()
    outsider = AUTHORITIES[7]
    certificate = certify(domain, order, [*committee[:2], outsider])
    assert status(verifier, order, certificate) == selector("SignerNotInCommittee")


def test_a_duplicated_signature_is_refused(verifier, domain, committee, make_order):
    order = make_order()
    one = td.sign_vote(domain, order, committee[0].key)
    two = certify(domain, order, committee[1:3])
    ordered = sorted(
        [one, two[:65], two[65:]], key=lambda s: int(td.recover_vote_signer(domain, order, s), 16)
    )
    duplicated = ordered[0] + ordered[0] + ordered[1]
    assert status(verifier, order, duplicated) == selector("SignersNotAscending")


def test_signatures_out_of_order_are_refused(verifier, domain, committee, make_order):
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    reversed_sigs = certificate[130:] + certificate[65:130] + certificate[:65]
    assert status(verifier, order, reversed_sigs) == selector("SignersNotAscending")


def test_a_malleable_signature_is_refused(verifier, domain, committee, make_order):
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    twisted = malleable(certificate[:65]) + certificate[65:]
    assert status(verifier, order, twisted) == selector("InvalidSignature")


def test_a_tampered_order_does_not_match_its_votes(verifier, domain, committee, make_order):
    certificate = certify(domain, make_order(amount=1), committee[:3])
    assert status(verifier, make_order(amount=2), certificate) == selector("SignerNotInCommittee")


def test_malformed_signature_bytes_are_refused(verifier, domain, committee, make_order):
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    assert status(verifier, order, certificate[:-1]) == selector("MalformedSignatures")
    assert status(verifier, order, b"") == selector("MalformedSignatures")


def test_an_unknown_epoch_is_refused(verifier, domain, committee, make_order):
    order = make_order(epoch=9)
    assert status(verifier, order, certify(domain, order, committee[:3])) == selector(
        "UnknownEpoch"
    )


def test_an_authority_of_another_epoch_does_not_count(
    verifier, manager, governance, domain, committee, make_order
):
    newcomer = AUTHORITIES[4]
    register = (manager.registerAuthority, (newcomer.address, "http://n5"), STAKE)
    advance_epoch(governance, manager, extra_calls=[register])  # epoch 2 = the four + newcomer
    order = make_order(epoch=1)
    certificate = certify(domain, order, [*committee[:2], newcomer])
    assert status(verifier, order, certificate) == selector("SignerNotInCommittee")
    order2 = make_order(epoch=2)
    assert status(verifier, order2, certify(domain, order2, [*committee[:3], newcomer])) == bytes(4)


def test_epoch_one_certificates_keep_their_quorum_after_the_committee_changes(
    verifier, manager, governance, domain, committee, make_order
):
    """The quorum check is against the order's own epoch (whether the certificate still
    settles is the settlement window's business: consensus.settlesUntil)."""
    order = make_order(epoch=1)
    certificate = certify(domain, order, committee[:3])
    advance_epoch(
        governance, manager, extra_calls=[(manager.removeAuthority, (committee[0].address,))]
    )
    assert status(verifier, order, certificate) == bytes(4)


def test_votes_for_another_chain_are_refused(verifier, committee, make_order):
    order = make_order()
    other_chain = td.Domain(chain_id=chain.id + 1, verifying_contract=verifier.address)
    certificate = certify(other_chain, order, committee[:3])
    assert status(verifier, order, certificate) == selector("SignerNotInCommittee")


def test_votes_for_another_verifying_contract_are_refused(
    verifier, consensus, committee, make_order, admin
):
    from brownie import CertificateVerifier

    other = CertificateVerifier.deploy(consensus, {"from": admin})
    order = make_order()
    certificate = certify(domain_of(other, chain.id), order, committee[:3])
    assert other.verifyCertificate(order.as_tuple(), certificate)
    assert status(verifier, order, certificate) == selector("SignerNotInCommittee")


def test_an_order_signature_is_not_a_vote(verifier, domain, committee, make_order):
    order = make_order()
    votes = {a.address: td.sign_order(domain, order, a.key) for a in committee[:3]}
    certificate = td.pack_signatures(votes)
    assert status(verifier, order, certificate) != bytes(4)


def test_weighted_stake_decides_the_quorum(verifier, manager, governance, domain, make_order):
    heavy, light = AUTHORITIES[5], AUTHORITIES[6]
    registrations = [
        (manager.registerAuthority, (heavy.address, "http://heavy"), 20 * 10**18),
        (manager.registerAuthority, (light.address, "http://light"), 10**18),
    ]
    # epoch 2: 4 x 10 + 20 + 1 = 61 ETH of stake (heavy holds less than a third)
    advance_epoch(governance, manager, extra_calls=registrations)
    order = make_order(epoch=2)
    four = AUTHORITIES[:4]
    # heavy + three of the four: 50 of 61 > 2/3; the four without heavy, 4 of 6 members
    # (two thirds by count), hold 40 of 61: not a quorum
    assert status(verifier, order, certify(domain, order, [heavy, *four[:3]])) == bytes(4)
    assert status(verifier, order, certify(domain, order, four)) == selector("BelowQuorum")
    assert status(verifier, order, certify(domain, order, [heavy, light, four[0]])) == selector(
        "BelowQuorum"
    )
