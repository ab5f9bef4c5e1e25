"""Billing: diamonds, what actions cost, and paying for diamonds and domains.

Owns (supabase/migrations/*_billing_*.sql): `users.diamonds` and `users.tier` (changed only by its
SQL functions), `transactions` (the ledger: one row per balance change, `balance_after` the
running sum in `seq` order), `guest_usage` and `guest_charges` (guests' free quota), `prices`,
`credit_packages`, `stripe_events` and `domain_orders`.

Exports the SQL functions `charge_credits(action, model_tier, idempotency_key)` (as the user or
guest charged: billing's charges and any service's paid action), and, for the service role only,
`refund_charge`, `credit_diamonds`, `grant_signup_bonus` (auth), `record_checkout_payment` and
`record_domain_payment` (the Stripe webhook) and `ledger_discrepancies` (the audit).

    routes/       the /billing routes, one module per resource: wallet, purchases, domains
    wallet.py     Wallet: balances, checks and charges, as the caller; a charge drops the
                  user's cached session entry
    payments.py   Stripe: Checkout Sessions and verified webhook events; Purchases
    domains.py    DomainOrders: quote, order, fulfil through the registrar, refund on failure
    registrar.py  Vercel's domain registrar API
    audit.py      the ledger audit behind `sajtmaskin billing audit`
    repo/         queries per resource, one Repository class per database role
    models/       wire Structs and billing's problems, per resource
"""
